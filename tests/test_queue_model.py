"""The queue against a model of itself: a stateful property test on the tests' real Redis.

Hypothesis interleaves what producers, workers, the reaper and the admin do to one queue:
submits (keyed or not, keys reused with the same or another payload, before and after they
expire, some delayed), takes by two workers (take, reserve, the idle wait_for_work, ack_take),
acks, transient and permanent failures, releases, clean shutdowns, reaps, admin retries and
deletes, pause and resume, cancels (of waiting, delayed and running jobs, and again),
heartbeats, the test clock moving on, the promoter, the sweep and the watch over reaped workers'
lists. A race is called up on purpose: a worker beats again between the reaper's choice and its
reap. Acks, failures and releases present live tokens and stale ones: from attempts that ended
(reaped, handed back, finished: a replay), whose job ran again since, or whose job runs again
now under a newer attempt (DESIGN.md §1.2: a stale token changes nothing).

A small model in Python holds what each step must leave: every job's status, attempts, holder,
live token, due time and completing token; the order of the waiting line (every submission here
has the same submitter, so one lane: first in, first out); each worker's jobs in order; the
registered workers; the idempotency keys; the completed index; the counters. Each step's answer
is checked against it, and after every step the queue must hold the model's state: `check` (what
`fbq check` runs) finds no violation, the stats match, and so do every job's record, `started`
entry and due time, the order of `waiting`, the completed index and the counters.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import uuid
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from feedback_queue.connection import create_client
from feedback_queue.errors import Conflict, NotCancellable, NotFound
from feedback_queue.job import Job, Status, parse_started
from feedback_queue.outcomes import Acked, Held
from feedback_queue.queue import EnqueueResult, Failure, Queue, Taken, producing
from feedback_queue.queue.base import Arg
from feedback_queue.queue.check import check
from feedback_queue.record import decode
from feedback_queue.settings import QueueConfig
from feedback_queue.up.embedded import EmbeddedRedis
from tests.conftest import FakeClock, redis_settings, seeded_backoff
from tests.helpers import silence, submission

T = TypeVar("T")

WORKERS = ("w1", "w2")
CONTENTS = ("essay a", "essay b")
REAPER = "reaper"
MODEL_DB = 9
# Two, not the other tests' three: last attempts (dead letters, reaped or failed) come sooner.
MAX_ATTEMPTS = 2
# Far longer than an example runs: only the worker a step silences is ever silent.
GRACE = 3600.0
# Short against the clock's moves (`housekeeping`), so that idempotency keys and entries of the
# completed index expire within an example. (Records' retention TTLs run on Redis's clock: a
# minute outlasts an example.)
IDEMPOTENCY_TTL, RETENTION = 5.0, 60.0
# Seconds: a wait_for_work that finds nothing (the model was wrong) soon gives up.
BLOCK = 0.05


class RacingQueue(Queue):
    """A queue with a race a test can call up: `late_beat` beats right after reapable.lua
    named the silent workers and before reap.lua returns their jobs, the race reap.lua
    re-checks."""

    late_beat: str | None = None

    async def _eval(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        answer = await super()._eval(script, keys, args)
        if script is self.scripts.reapable and self.late_beat is not None:
            worker, self.late_beat = self.late_beat, None
            await self.heartbeat(worker)
        return answer


@dataclass
class Expected:
    """One job as the model has it."""

    status: Status
    attempts: int = 0
    holder: str = ""  # the worker running it, while ACTIVE
    token: str = ""  # its live attempt's token, while ACTIVE
    last_token: str = ""  # the token of its latest attempt, running or not
    completed_by: str = ""  # the token of the attempt that completed it
    finished_ms: int = 0  # when it completed or was cancelled
    due_ms: int = 0  # when it is due, while DELAYED


@dataclass(frozen=True)
class Attempt:
    """A token handed out by a take: its worker keeps it, live or long stale."""

    worker: str
    job: Job = field(repr=False)
    # The model's entry for the job, which moves on with it.
    expected: Expected = field(repr=False, compare=False)

    @property
    def live(self) -> bool:
        """Does the attempt still hold its job?"""
        return self.expected.token == self.token

    @property
    def overtaken(self) -> bool:
        """Does a newer attempt hold its job now?"""
        return self.expected.token not in ("", self.token)

    @property
    def outlived(self) -> bool:
        """Did a newer attempt run its job, and has it ended too?"""
        return self.expected.token == "" and self.expected.last_token != self.token

    @property
    def ended(self) -> bool:
        """Has it ended, with no newer attempt since?"""
        return self.expected.token == "" and self.expected.last_token == self.token

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def token(self) -> str:
        return self.job.token


class QueueModel(RuleBasedStateMachine):
    """One queue of its own per example, on its own event loop and client, on `server`."""

    server: EmbeddedRedis

    attempts = Bundle("attempts")
    job_ids = Bundle("job_ids")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        # A database of its own: `check` SCANs the database, which then holds this queue only.
        self.client: Redis = create_client(redis_settings(self.server, db=MODEL_DB))
        self.clock = FakeClock()
        config = QueueConfig(
            name=f"model-{uuid.uuid4().hex[:10]}",
            max_attempts=MAX_ATTEMPTS,
            backoff=seeded_backoff(),
            retention=RETENTION,
            idempotency_ttl=IDEMPOTENCY_TTL,
            heartbeat_grace=GRACE,
        )
        self.queue = RacingQueue(self.client, config, address="test-redis", clock=self.clock)
        self.jobs: dict[str, Expected] = {}  # every job whose record exists
        self.created: list[str] = []  # every job ever created, deleted or not
        self.waiting: list[str] = []  # first in line first
        self.held: dict[str, list[str]] = {w: [] for w in WORKERS}  # oldest taken first
        self.registered: set[str] = set()
        self.reaped: set[str] = set()  # every worker the reaper took for dead
        self.paused = False
        # idempotency key -> (content, id, expiry ms), until a sweep forgets it
        self.keyed: dict[str, tuple[str, str, int]] = {}
        self.indexed: set[str] = set()  # the completed jobs in the completed index
        self.cancelled: set[str] = set()  # the cancelled jobs in the cancelled index
        self.counters: Counter[str] = Counter()
        self.highest_token = 0
        self.issued: list[Attempt] = []

    def run(self, step: Awaitable[T]) -> T:
        return self.loop.run_until_complete(step)

    def teardown(self) -> None:
        async def clean() -> None:
            keys = [k async for k in self.client.scan_iter(match=f"{self.queue.keys.tag}:*")]
            if keys:
                await self.client.delete(*keys)
            await self.client.aclose()

        try:
            self.run(clean())
        finally:
            self.loop.close()

    # -- the model's moves ----------------------------------------------------------------

    def now_ms(self) -> int:
        """The queue's time: the test's clock, which every script is given."""
        return int(self.clock() * 1000)

    def started(self, worker: str, count: int, jobs: list[Job]) -> MultipleResults[Attempt]:
        """Check a take's jobs against the model (the first `count` in line) and start them."""
        expected = [] if self.paused else self.waiting[:count]
        assert [j.id for j in jobs] == expected
        del self.waiting[: len(expected)]
        if jobs:
            self.registered.add(worker)  # taking registers a worker (a reaped one, say)
        for job in jobs:
            model = self.jobs[job.id]
            model.status, model.holder, model.token = Status.ACTIVE, worker, job.token
            model.last_token = job.token
            model.attempts += 1
            assert (job.status, job.attempts, job.record.worker) == (
                Status.ACTIVE,
                model.attempts,
                worker,
            )
            # Tokens come from a counter that only grows: never one handed out before.
            assert int(job.token) > self.highest_token
            self.highest_token = int(job.token)
            self.held[worker].append(job.id)
        attempts = [Attempt(worker, job, self.jobs[job.id]) for job in jobs]
        self.issued += attempts
        return multiple(*attempts)

    def took(self, worker: str, count: int, taken: Taken) -> MultipleResults[Attempt]:
        assert taken.paused == self.paused
        assert taken.wait == 0
        return self.started(worker, count, taken.jobs)

    def holding(self, attempt: Attempt) -> Expected | None:
        """The job, if `attempt` holds it now."""
        job = self.jobs.get(attempt.id)
        if job is None or job.token != attempt.token:
            return None
        assert job.holder == attempt.worker
        return job

    def end(self, attempt: Attempt, job: Expected, status: Status) -> None:
        """The live attempt ends, leaving its job in `status`."""
        self.held[attempt.worker].remove(attempt.id)
        job.status, job.holder, job.token = status, "", ""

    # -- producers ------------------------------------------------------------------------

    @initialize(
        target=job_ids, contents=st.lists(st.sampled_from(CONTENTS), min_size=1, max_size=3)
    )
    def backlog(self, contents: list[str]) -> MultipleResults[str]:
        """Some plain submissions first, so that workers find work early."""
        return multiple(*(i for content in contents for i in self.submit_one(content, "", 0.0)))

    @rule(
        target=job_ids,
        items=st.lists(
            st.tuples(
                st.sampled_from(CONTENTS),
                st.sampled_from(["", "", "k0", "k1"]),
                st.sampled_from([0.0, 0.0, 0.0004, 0.5, 5.0, 90.0]),
            ),
            min_size=1,
            max_size=3,
        ),
    )
    def submit(self, items: list[tuple[str, str, float]]) -> MultipleResults[str]:
        """Submit (content, idempotency key or "", delay) items one by one."""
        return multiple(*(i for item in items for i in self.submit_one(*item)))

    def submit_one(self, content: str, key: str, delay: float) -> list[str]:
        """Enqueue one submission; returns the id it created, if any."""
        sub = submission(content, idempotency_key=key)
        now = self.now_ms()
        earlier = self.keyed.get(key)
        if earlier is not None and earlier[2] <= now:
            earlier = None  # expired: the key is free again, swept or not
        if earlier is not None and earlier[0] != content:
            with pytest.raises(Conflict):
                self.run(self.queue.enqueue(sub, delay))
            return []
        result = self.run(self.queue.enqueue(sub, delay))
        if earlier is not None:
            original = self.jobs.get(earlier[1])
            # A duplicate whose record is gone (deleted) answers COMPLETED (enqueue.lua).
            status = original.status if original else Status.COMPLETED
            assert result == EnqueueResult(earlier[1], status, duplicate=True)
            return []
        assert result.id not in self.created
        self.created.append(result.id)
        self.counters["enqueued"] += 1
        if key:
            self.keyed[key] = (content, result.id, now + int(IDEMPOTENCY_TTL * 1000))
        if delay > 0:
            due = now + math.ceil(delay * 1000)
            self.jobs[result.id] = Expected(Status.DELAYED, due_ms=due)
        else:
            self.jobs[result.id] = Expected(Status.WAITING)
            self.waiting.append(result.id)
        assert result == EnqueueResult(result.id, self.jobs[result.id].status, duplicate=False)
        return [result.id]

    # -- workers: each way of taking and of reporting is a rule of its own ------------------
    # (Hypothesis leaves some rules out of each example: with several, workers stay busy.)

    @rule(target=attempts, worker=st.sampled_from(WORKERS), count=st.integers(1, 3))
    def take(self, worker: str, count: int) -> MultipleResults[Attempt]:
        """The backlog path: the take script."""
        return self.took(worker, count, self.run(self.queue.take(worker, count)))

    @rule(target=attempts, worker=st.sampled_from(WORKERS), count=st.integers(1, 3))
    def reserve(self, worker: str, count: int) -> MultipleResults[Attempt]:
        return self.started(worker, count, self.run(self.queue.reserve(worker, count)))

    @precondition(lambda self: bool(self.waiting))  # on an empty queue it would only wait
    @rule(target=attempts, worker=st.sampled_from(WORKERS), count=st.integers(1, 3))
    def wait_for_work(self, worker: str, count: int) -> MultipleResults[Attempt]:
        """The idle path: wait for the wake token (there may be none left: then the wait
        times out), then take."""
        taken = self.run(self.queue.wait_for_work(worker, count, BLOCK))
        return self.took(worker, count, taken)

    @precondition(lambda self: any(a.live for a in self.issued))
    @rule(attempt=attempts.filter(lambda a: a.live))
    def ack(self, attempt: Attempt) -> None:
        self.report_ack(attempt)

    @precondition(lambda self: any(a.live for a in self.issued))
    @rule(target=attempts, attempt=attempts.filter(lambda a: a.live), count=st.integers(0, 2))
    def ack_take(self, attempt: Attempt, count: int) -> MultipleResults[Attempt]:
        return self.report_ack_take(attempt, count)

    @precondition(lambda self: any(a.live for a in self.issued))
    @rule(
        attempt=attempts.filter(lambda a: a.live),
        permanent=st.booleans(),
        retry_after=st.sampled_from([0.0, 0.0, 3.0, 40.0]),
    )
    def fail(self, attempt: Attempt, permanent: bool, retry_after: float) -> None:
        self.report_failure(attempt, permanent, retry_after)

    @precondition(lambda self: any(a.live for a in self.issued))
    @rule(attempt=attempts.filter(lambda a: a.live))
    def release(self, attempt: Attempt) -> None:
        self.report_release(attempt)

    # Late outcomes: the attempt no longer holds its job, and each changes nothing (an ack may
    # be a replay: ALREADY). Either it ended and its job has not run since, or a newer attempt
    # ran the job and has ended too, or a newer attempt, maybe of the same worker, runs it now:
    # the case fencing is for (DESIGN.md §1.2), a rule per outcome, so that it comes up often
    # while it lasts.

    @precondition(lambda self: any(a.ended for a in self.issued))
    @rule(
        target=attempts,
        attempt=attempts.filter(lambda a: a.ended),
        how=st.sampled_from(["ack", "fail", "release"]),
        then_take=st.none() | st.integers(0, 2),
    )
    def late_outcome(
        self, attempt: Attempt, how: str, then_take: int | None
    ) -> MultipleResults[Attempt]:
        return self.report_late(attempt, how, then_take)

    @precondition(lambda self: any(a.outlived for a in self.issued))
    @rule(
        target=attempts,
        attempt=attempts.filter(lambda a: a.outlived),
        how=st.sampled_from(["ack", "fail", "release"]),
        then_take=st.none() | st.integers(0, 2),
    )
    def outlived_outcome(
        self, attempt: Attempt, how: str, then_take: int | None
    ) -> MultipleResults[Attempt]:
        return self.report_late(attempt, how, then_take)

    @precondition(lambda self: any(a.overtaken for a in self.issued))
    @rule(
        target=attempts,
        attempt=attempts.filter(lambda a: a.overtaken),
        then_take=st.none() | st.integers(0, 2),
    )
    def overtaken_ack(self, attempt: Attempt, then_take: int | None) -> MultipleResults[Attempt]:
        return self.report_late_ack(attempt, then_take)

    @precondition(lambda self: any(a.overtaken for a in self.issued))
    @rule(attempt=attempts.filter(lambda a: a.overtaken), permanent=st.booleans())
    def overtaken_fail(self, attempt: Attempt, permanent: bool) -> None:
        self.report_failure(attempt, permanent, 0.0)

    @precondition(lambda self: any(a.overtaken for a in self.issued))
    @rule(attempt=attempts.filter(lambda a: a.overtaken))
    def overtaken_release(self, attempt: Attempt) -> None:
        self.report_release(attempt)

    @rule(worker=st.sampled_from(WORKERS), leave=st.booleans())
    def heartbeat_or_leave(self, worker: str, leave: bool) -> None:
        """A worker beats (again, after a reap: it was only frozen), or shuts down cleanly:
        what it holds goes back first in line, uncounted."""
        if not leave:
            self.run(self.queue.heartbeat(worker))
            self.registered.add(worker)
            return
        held = self.held[worker]
        assert self.run(self.queue.leave(worker)) == len(held)
        for job_id in held:
            job = self.jobs[job_id]
            job.status, job.holder, job.token = Status.WAITING, "", ""
            job.attempts -= 1
        self.waiting[:0] = held
        self.held[worker] = []
        self.registered.discard(worker)

    # -- what a report should do ----------------------------------------------------------

    def expect_ack(self, attempt: Attempt) -> Acked:
        job = self.holding(attempt)
        if job is not None:
            self.end(attempt, job, Status.COMPLETED)
            job.completed_by, job.finished_ms = attempt.token, self.now_ms()
            self.indexed.add(attempt.id)
            self.counters["completed"] += 1
            return Acked.COMPLETED
        if attempt.expected.completed_by == attempt.token and attempt.id in self.jobs:
            return Acked.ALREADY  # a replay of the ack that completed it
        if self.is_cancelled(attempt.id):
            return Acked.CANCELLED  # revoked on purpose: not counted stale
        self.counters["stale_outcomes"] += 1
        return Acked.STALE

    def is_cancelled(self, job_id: str) -> bool:
        job = self.jobs.get(job_id)
        return job is not None and job.status == Status.CANCELLED

    def report_ack(self, attempt: Attempt) -> None:
        result = f"done by {attempt.token}"
        expected = self.expect_ack(attempt)
        done = [(attempt.id, attempt.token, result)]
        assert self.run(self.queue.ack(attempt.worker, done)) == [expected]
        if expected == Acked.COMPLETED:
            record = self.run(self.queue.get(attempt.id)).record
            assert (record.status, record.result, record.worker) == (
                Status.COMPLETED,
                result,
                attempt.worker,
            )

    def report_late_ack(self, attempt: Attempt, then_take: int | None) -> MultipleResults[Attempt]:
        """An ack, or with `then_take` an ack_take, of an attempt that no longer holds its job."""
        if then_take is not None:
            return self.report_ack_take(attempt, then_take)
        self.report_ack(attempt)
        return multiple()

    def report_late(
        self, attempt: Attempt, how: str, then_take: int | None
    ) -> MultipleResults[Attempt]:
        if how == "ack":
            return self.report_late_ack(attempt, then_take)
        if how == "fail":
            self.report_failure(attempt, permanent=False, retry_after=0.0)
        else:
            self.report_release(attempt)
        return multiple()

    def report_ack_take(self, attempt: Attempt, count: int) -> MultipleResults[Attempt]:
        worker = attempt.worker
        expected = self.expect_ack(attempt)
        done = [(attempt.id, attempt.token, "done")]
        acked, taken = self.run(self.queue.ack_take(worker, done, count))
        assert acked == [expected]
        return self.took(worker, count, taken)

    def report_failure(self, attempt: Attempt, permanent: bool, retry_after: float) -> None:
        failure = Failure(attempt.job, "boom", permanent=permanent, retry_after=retry_after)
        job = self.holding(attempt)
        now = self.now_ms()
        outcome = self.run(self.queue.fail(attempt.worker, [failure]))
        if job is None and self.is_cancelled(attempt.id):
            assert outcome == [Status.CANCELLED]
            return
        if job is None:
            self.counters["stale_outcomes"] += 1
            assert outcome == [None]
            return
        if permanent or job.attempts >= MAX_ATTEMPTS:
            assert outcome == [Status.FAILED]
            self.end(attempt, job, Status.FAILED)
            self.counters["failed"] += 1
            return
        assert outcome == [Status.DELAYED]
        self.end(attempt, job, Status.DELAYED)
        self.counters["retried"] += 1
        # The backoff is random within its window (at least retry_after): learn where it fell.
        ceiling = self.queue.config.backoff.ceiling(job.attempts)
        job.due_ms = self.run(self.queue.get(attempt.id)).record.run_at_ms
        earliest = now + int(max(ceiling / 2, retry_after) * 1000)
        latest = now + int(max(ceiling, retry_after) * 1000)
        assert earliest <= job.due_ms <= latest

    def report_release(self, attempt: Attempt) -> None:
        job = self.holding(attempt)
        released = self.run(self.queue.release(attempt.worker, [attempt.job]))
        if job is None:
            if not self.is_cancelled(attempt.id):
                self.counters["stale_outcomes"] += 1
            assert released == 0
            return
        assert released == 1
        self.end(attempt, job, Status.WAITING)
        job.attempts -= 1  # the interrupted attempt does not count
        self.waiting.insert(0, attempt.id)

    # -- housekeeping ---------------------------------------------------------------------

    @precondition(lambda self: any(a.live for a in self.issued))
    @rule(attempt=attempts.filter(lambda a: a.live))
    def reap(self, attempt: Attempt) -> None:
        """The worker running `attempt` falls silent while the reaper beats on, and is reaped:
        what it held goes back first in line, or to the dead letters when in its last attempt."""
        worker = attempt.worker
        self.silence(worker)
        back: list[str] = []
        for job_id in self.held[worker]:
            job = self.jobs[job_id]
            job.holder, job.token = "", ""
            if job.attempts >= MAX_ATTEMPTS:
                job.status = Status.FAILED
                self.counters["failed"] += 1
            else:
                job.status = Status.WAITING
                back.append(job_id)
        assert self.run(self.queue.reap()) == len(back)
        self.counters["recovered"] += len(back)
        self.waiting[:0] = back  # first in line, oldest taken first
        self.held[worker] = []
        self.registered.discard(worker)
        self.reaped.add(worker)

    @rule(worker=st.sampled_from(WORKERS))
    def reap_overtaken_by_a_beat(self, worker: str) -> None:
        """`worker` falls silent, but beats again after reapable.lua named it and before
        reap.lua: it keeps its jobs."""
        self.silence(worker)
        self.queue.late_beat = worker
        assert self.run(self.queue.reap()) == 0
        assert self.queue.late_beat is None  # it did beat in the gap
        self.registered.add(worker)

    def silence(self, worker: str) -> None:
        """Age `worker`'s beat past the grace while the reaper beats (no gap in the fleet's
        beats, which would call a calm: lib/watch.lua)."""
        self.run(self.queue.heartbeat(REAPER))
        self.registered.add(REAPER)
        self.run(silence(self.client, self.queue, worker, GRACE + 1))
        self.run(self.queue.heartbeat(REAPER))

    @rule(
        seconds=st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0, 30.0, 60.0, 120.0]),
        sweep_batch=st.sampled_from([0, 0, 1, 2, 1000]),
    )
    def housekeeping(self, seconds: float, sweep_batch: int) -> None:
        """Time passes; the promoter moves what is due into the line (a retry after backoff to
        its front, a delayed submit to its back, in the order they fell due); the watch over
        reaped workers' lists finds none to hand back (every list that holds a job has its
        worker registered); with a `sweep_batch`, the sweep runs too (without, a submit may
        meet an idempotency key expired but not yet swept)."""
        assert self.run(self.queue.reap_orphans()) == 0
        self.clock.advance(seconds)
        now = self.now_ms()
        due = sorted(
            (job.due_ms, job_id)
            for job_id, job in self.jobs.items()
            if job.status == Status.DELAYED and job.due_ms <= now
        )
        assert self.run(self.queue.promote_due()) == len(due)
        for _, job_id in due:
            self.jobs[job_id].status, self.jobs[job_id].due_ms = Status.WAITING, 0
            if self.jobs[job_id].attempts:
                self.waiting.insert(0, job_id)
            else:
                self.waiting.append(job_id)
        if sweep_batch:
            self.sweep(now, sweep_batch)

    def sweep(self, now: int, batch: int) -> None:
        """The sweep forgets expired idempotency keys and trims the completed index, `batch`
        of each a call, calling again while a call comes back full."""
        expired = {key for key, (_, _, expiry) in self.keyed.items() if expiry <= now}
        edge = now - int(RETENTION * 1000)
        trimmed = {i for i in self.indexed if self.jobs[i].finished_ms < edge}
        # Cancelled ids stay as long as the longer of the retention and the idempotency TTL.
        kept = now - int(max(RETENTION, IDEMPOTENCY_TTL) * 1000)
        uncancelled = {i for i in self.cancelled if self.jobs[i].finished_ms < kept}
        swept = len(trimmed) + len(uncancelled)
        assert self.run(self.queue.sweep(batch)) == (len(expired), swept)
        for key in expired:
            del self.keyed[key]
        self.indexed -= trimmed
        self.cancelled -= uncancelled

    # -- the admin ------------------------------------------------------------------------

    @rule(job_id=job_ids, delete=st.booleans())
    def admin(self, job_id: str, delete: bool) -> None:
        """The admin deletes a job or retries it."""
        if delete:
            self.delete(job_id)
        else:
            self.retry(job_id)

    def retry(self, job_id: str) -> None:
        """Only a FAILED job may be retried: back of the line, attempts starting over."""
        job = self.jobs.get(job_id)
        if job is None:
            with pytest.raises(NotFound):
                self.run(self.queue.retry(job_id))
        elif job.status != Status.FAILED:
            with pytest.raises(Conflict):
                self.run(self.queue.retry(job_id))
        else:
            self.run(self.queue.retry(job_id))
            job.status, job.attempts = Status.WAITING, 0
            self.waiting.append(job_id)
            self.counters["admin_retried"] += 1

    def delete(self, job_id: str) -> None:
        """Any job but an ACTIVE one may be deleted."""
        job = self.jobs.get(job_id)
        if job is None:
            with pytest.raises(NotFound):
                self.run(self.queue.delete(job_id))
        elif job.status == Status.ACTIVE:
            with pytest.raises(Conflict):
                self.run(self.queue.delete(job_id))
        else:
            self.run(self.queue.delete(job_id))
            del self.jobs[job_id]
            self.indexed.discard(job_id)
            self.cancelled.discard(job_id)
            if job.status == Status.WAITING:
                self.waiting.remove(job_id)
            self.counters["deleted"] += 1

    @rule(job_id=job_ids)
    def cancel(self, job_id: str) -> None:
        """The admin cancels a job: WAITING and DELAYED end at once, an ACTIVE one's attempt
        is revoked (its worker is told, and its outcomes change nothing); again is a no-op;
        a finished one is refused."""
        job = self.jobs.get(job_id)
        if job is None:
            with pytest.raises(NotFound):
                self.run(self.queue.cancel(job_id, "admin"))
            return
        if job.status in (Status.COMPLETED, Status.FAILED):
            with pytest.raises(NotCancellable):
                self.run(self.queue.cancel(job_id, "admin"))
            return
        if job.status == Status.CANCELLED:
            assert self.run(self.queue.cancel(job_id, "admin")) is False
            return
        running = (job.last_token,) if job.status == Status.ACTIVE else ()
        assert self.run(self.queue.cancel(job_id, "admin")) is True
        if job.status == Status.WAITING:
            self.waiting.remove(job_id)
        elif job.status == Status.ACTIVE:
            self.held[job.holder].remove(job_id)
        job.status, job.holder, job.token, job.due_ms = Status.CANCELLED, "", "", 0
        job.finished_ms = self.now_ms()
        self.cancelled.add(job_id)
        self.counters["cancelled"] += 1
        for token in running:
            assert self.run(self.queue.held([(job_id, token)])) == [Held.CANCELLED]

    @rule(pause=st.booleans())
    def pause_or_resume(self, pause: bool) -> None:
        self.run(self.queue.pause() if pause else self.queue.resume())
        self.paused = pause

    # -- after every step -----------------------------------------------------------------

    @invariant()
    def queue_holds_the_model(self) -> None:
        report = self.run(check(self.queue))
        assert report.violations == []
        assert report.jobs == len(self.jobs)

        stats = self.run(self.queue.stats())
        count = Counter(job.status for job in self.jobs.values())
        assert (stats.waiting, stats.active, stats.delayed, stats.failed) == (
            count[Status.WAITING],
            count[Status.ACTIVE],
            count[Status.DELAYED],
            count[Status.FAILED],
        )
        assert (stats.workers, stats.paused) == (len(self.registered), self.paused)
        assert stats.completed == self.counters["completed"]

        records, started, waiting, delayed, completed, cancelled, counters = self.run(
            self.read_state()
        )
        assert waiting == self.waiting
        assert {i.decode() for i in completed} == self.indexed
        assert {i.decode() for i in cancelled} == self.cancelled
        assert {k.decode(): int(v) for k, v in counters.items() if k != b"fence"} == {
            k: v for k, v in self.counters.items() if v
        }
        for job_id, raw in zip(self.created, records, strict=True):
            job = self.jobs.get(job_id)
            if job is None:
                assert raw is None  # deleted
                continue
            record = decode(raw)
            assert (record.status, record.attempts) == (job.status, job.attempts)
            entry = started.get(job_id.encode())
            if job.status == Status.ACTIVE:
                held = parse_started(entry)
                assert (held.worker, held.token) == (job.holder, job.token)
            else:
                assert entry is None
            if job.status == Status.DELAYED:
                assert record.run_at_ms == int(delayed[job_id.encode()]) == job.due_ms

    async def read_state(self) -> list[Any]:
        """The record of every job ever created, the `started` hash, `waiting`, `delayed`, the
        completed and cancelled indexes and the counters, in one round trip."""
        k = self.queue.keys
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.started)
            pipe.zrange(k.delayed, 0, -1, withscores=True)
            pipe.zrange(k.completed, 0, -1)
            pipe.zrange(k.cancelled, 0, -1)
            pipe.hgetall(k.stats)
            if self.created:
                pipe.execute_command("MGET", *(k.job(i) for i in self.created))
            state: list[Any] = await pipe.execute()
        started, delayed, completed, cancelled, counters, *records = state
        waiting = await self.queue.waiting_ids()
        first = records[0] if records else []
        return [first, started, waiting, dict(delayed), completed, cancelled, counters]


def test_queue_follows_its_model(
    redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids in the order the jobs are created: Redis breaks ties (jobs due in the same ms) by id,
    # and Hypothesis needs an example to run alike each time it runs it; random ids would not.
    numbers = itertools.count()
    monkeypatch.setattr(
        producing, "new_ids", lambda count: [f"job{next(numbers):08d}" for _ in range(count)]
    )

    class OnTheTestsRedis(QueueModel):
        server = redis_server

    run_state_machine_as_test(
        OnTheTestsRedis,
        settings=settings(
            # Many short examples rather than fewer long ones: Hypothesis varies an example by
            # copying parts of it, so more of them try more different histories, and the
            # histories that matter (a job taken again while its old attempt reports) are short.
            max_examples=300,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            # No shrinking: it replays whole examples against Redis and runs into Hypothesis's
            # five-minute limit (and pytest's timeout, which would lose the report). A failure
            # prints its steps unshrunk, and derandomize replays the same ones every run.
            phases=[Phase.explicit, Phase.generate],
        ),
    )
