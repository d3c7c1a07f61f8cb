"""The queue in this process's memory, for `fbq up --memory` (DESIGN.md §5): no Redis at all.

`MemoryQueue` is a `Queue` with the same observable behaviour (statuses, attempts, backoff,
idempotency, limits, pause, reaping, listing, counters, errors) and one difference that matters:
nothing outlives the process. Health reports it as degraded and says so.

Its data and transitions live in `memory_state` (one method per Lua script); this module does
what `queue.py` does around the scripts: reads the clock, builds jobs and errors, and wakes
`wait_one`. It has no Redis client (nor `keys` or `scripts`): it overrides every public coroutine
of `Queue` and calls none of `Queue`'s through super(), so no call can reach Redis code, and a
test checks that a coroutine added to `Queue` gets its twin here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from redis.asyncio import Redis

from feedback_queue.errors import (
    Conflict,
    IdCollision,
    NotFound,
    QueueError,
)
from feedback_queue.job import Job, Status, new_id
from feedback_queue.memory_state import State, ranked, running
from feedback_queue.queue import (
    _ID_DRAWS,
    MAX_ERROR_CHARS,
    EnqueueResult,
    Failure,
    Page,
    Queue,
    QueueStats,
    ServerInfo,
    Taken,
    _Pending,
    page_window,
    queue_options,
)
from feedback_queue.record import Record
from feedback_queue.settings import Settings
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.validation import validate_id


@dataclass
class MemoryQueue(Queue):
    """One named queue in this process's memory; every job is lost when the process ends."""

    durable: ClassVar[bool] = False
    # Never set: reading it fails loudly instead of reaching a Redis that is not there.
    client: Redis = field(init=False, repr=False, compare=False)
    address: str = "in-memory"

    def __post_init__(self) -> None:
        self._state = State()
        # Set whenever ids enter waiting: wait_one's BLMOVE. Waiters re-check and clear it.
        self._arrived = asyncio.Event()

    @classmethod
    def in_memory(cls, settings: Settings, clock: Callable[[], float] = time.time) -> MemoryQueue:
        """A memory queue configured as `settings` say (their Redis part aside)."""
        return cls(clock=clock, **queue_options(settings))

    async def close(self) -> None:
        """Nothing to close; the data goes with the object."""

    def _wake(self) -> None:
        if self._state.waiting:
            self._arrived.set()

    # -- producing ----------------------------------------------------------------------------

    async def enqueue(self, submission: pb.Submission, delay: float = 0.0) -> EnqueueResult:
        """Validate and enqueue one submission; raise on refusal."""
        result = (await self.enqueue_many([(submission, delay)]))[0]
        if isinstance(result, QueueError):
            raise result
        return result

    async def enqueue_many(
        self, items: Sequence[tuple[pb.Submission, float]]
    ) -> list[EnqueueResult | QueueError]:
        """Enqueue many (submission, delay) pairs; each gets its result or its own error."""
        results, pending = self._validated(items)
        now = self.now_ms()
        for item in pending:
            results[item.position] = self._enqueue_one(item, now)
        self._wake()
        return results

    def _enqueue_one(self, item: _Pending, now: int) -> EnqueueResult | QueueError:
        rate = self.submitter_rate
        options = (
            int(self.idempotency_ttl * 1000),
            self.max_waiting,
            rate.limit if rate else 0,
            int(rate.period * 1000) if rate else 0,
        )
        run_at = now + int(item.delay * 1000) if item.delay > 0 else 0
        # Built as encode_new builds it (a run-at makes it DELAYED).
        rec = Record(
            Status.DELAYED if run_at else Status.WAITING, 0, now, item.payload, run_at_ms=run_at
        )
        for _ in range(_ID_DRAWS):
            outcome = self._enqueue_outcome(
                *self._state.enqueue(
                    now, new_id(), rec, item.idempotency_key, item.submitter_id, options=options
                )
            )
            if not isinstance(outcome, IdCollision):
                return outcome
        return QueueError("could not draw a free id; retry the submission")

    # -- consuming ----------------------------------------------------------------------------

    async def reserve(self, worker: str, count: int = 1, block: float = 0.0) -> list[Job]:
        """Take up to `count` jobs for `worker`; with none waiting, wait up to `block` seconds."""
        taken = await self.take(worker, count)
        if taken.jobs or taken.paused or taken.wait or block <= 0:
            return taken.jobs
        return (await self.wait_one(worker, block)).jobs

    async def take(self, worker: str, count: int) -> Taken:
        """Up to `count` waiting jobs, oldest first, marked ACTIVE."""
        now = self.now_ms()
        return _taken(*self._state.take(now, worker, count, *self._rate_args()), worker, now)

    async def ack_take(
        self, worker: str, done: Iterable[tuple[str, str]], count: int
    ) -> tuple[int, Taken]:
        """`ack` and `take` at once: how many completed, and what was taken."""
        now = self.now_ms()
        completed = self._state.ack(now, self._retention_ms(), worker, done)
        taken = self._state.take(now, worker, count, *self._rate_args())
        return completed, _taken(*taken, worker, now)

    async def wait_one(self, worker: str, block: float) -> Taken:
        """Wait up to `block` seconds (0: for ever, as BLMOVE) for one job, then start it.

        Paused or rate-limited, the job goes back first in line and the reason is returned.
        """
        state = self._state
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(block if block > 0 else None):
                while not state.waiting:
                    self._arrived.clear()
                    await self._arrived.wait()
        if not state.waiting:
            return Taken([])
        job_id = state.waiting.pop()
        state.processing(worker).appendleft(job_id)
        now = self.now_ms()
        code, rec = state.start(now, worker, job_id, *self._rate_args())
        if code:
            self._wake()  # handed back: another waiter may run it
            return Taken([], paused=code < 0, wait=max(code, 0) / 1000)
        return Taken([Job(job_id, running(rec, worker, now))] if rec else [])

    async def ack(self, worker: str, done: Iterable[tuple[str, str]]) -> int:
        """Complete (job id, result) pairs taken by `worker`; returns how many completed now."""
        return self._state.ack(self.now_ms(), self._retention_ms(), worker, done)

    async def fail(self, worker: str, failures: Sequence[Failure]) -> list[Status | None]:
        """Record failed attempts: DELAYED with backoff, or FAILED when permanent or the last."""
        now = self.now_ms()
        items = [
            (f.job.id, f.job.attempts, f.error[:MAX_ERROR_CHARS], self._retry_at(f, now))
            for f in failures
        ]
        outcomes = self._state.fail(now, worker, items)
        return [{1: Status.DELAYED, 2: Status.FAILED}.get(o) for o in outcomes]

    async def release(self, worker: str, job_ids: Iterable[str]) -> int:
        """Hand `worker`'s unfinished jobs back to the front of waiting (shutdown)."""
        back = self._state.release(self.now_ms(), worker, True, job_ids)
        self._wake()
        return back

    async def recover(self, worker: str, keep: Iterable[str]) -> int:
        """Hand back every job in `worker`'s processing list except `keep`."""
        back = self._state.release(self.now_ms(), worker, False, keep)
        self._wake()
        return back

    async def heartbeat(self, worker: str) -> None:
        """Tell the fleet `worker` is alive; its processing list is safe from the reaper."""
        self._state.workers[worker] = self.now_ms()

    async def leave(self, worker: str) -> int:
        """Hand back whatever `worker` still holds and leave the registry."""
        returned = await self.recover(worker, ())
        self._state.workers.pop(worker, None)
        return returned

    # -- housekeeping -------------------------------------------------------------------------

    async def promote_due(self, limit: int = 1000) -> int:
        """Move delayed jobs whose time has come to waiting; returns how many."""
        moved = self._state.promote(self.now_ms(), limit)
        self._wake()
        return moved

    async def reap(self) -> int:
        """Return the jobs of workers silent for longer than the grace period; returns how many."""
        state, now = self._state, self.now_ms()
        alive_after = now - int(self.heartbeat_grace * 1000)
        stale = [w for w in ranked(state.workers) if state.workers[w] < alive_after]
        returned = sum(max(state.reap(now, w, alive_after, self.max_attempts), 0) for w in stale)
        self._wake()
        return returned

    async def hold_lease(self, name: str, owner: str, lease: float) -> bool:
        """Take or renew the lease `name` for `owner` for `lease` seconds; 0 gives it up."""
        return self._state.lock(self.now_ms(), name, owner, max(int(lease * 1000), 0))

    async def sweep(self, limit: int = 1000) -> tuple[int, int]:
        """Forget expired idempotency keys and trim the completed index."""
        now = self.now_ms()
        return self._state.sweep(now, now - int(self.retention * 1000), limit)

    # -- reading ------------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        """The job with this id, or NotFound."""
        validate_id(job_id)
        jobs = self._state.read([job_id], self.now_ms())
        if not jobs:
            raise NotFound(job_id)
        return jobs[0]

    async def list_by_status(self, status: Status, limit: int = 50, cursor: str = "") -> Page:
        """One page of the jobs in `status`, in the order and with the cursors of `Queue`."""
        offset, limit = page_window(cursor, limit)
        ids, total = self._state.page_ids(status, offset, limit)
        return Page.of(self._state.read(ids, self.now_ms()), offset, limit, total)

    async def stats(self) -> QueueStats:
        """Counts of every state and the monotonic counters."""
        return self._state.stats(self.now_ms() - int(self.heartbeat_grace * 1000))

    async def ping(self) -> None:
        """Always answers: the data is here."""

    async def server_info(self) -> ServerInfo:
        """There is no server: empty INFO (health.check reports a memory queue without it)."""
        return ServerInfo({}, 0.0)

    # -- steering -----------------------------------------------------------------------------

    async def retry(self, job_id: str) -> None:
        """Send a FAILED job back to waiting with its attempts starting over."""
        validate_id(job_id)
        outcome = self._state.retry(self.now_ms(), [job_id])[0]
        if outcome == 0:
            raise NotFound(job_id)
        if outcome < 0:
            raise Conflict(f"submission {job_id!r} is not FAILED; only failed ones can be retried")
        self._wake()

    async def retry_all_failed(self, chunk: int = 500) -> int:
        """Retry every FAILED job, the longest failed first; returns how many."""
        outcomes = self._state.retry(self.now_ms(), ranked(self._state.failed))
        self._wake()
        return outcomes.count(1)

    async def delete(self, job_id: str) -> None:
        """Remove a job that is not ACTIVE."""
        validate_id(job_id)
        outcome = self._state.delete(self.now_ms(), job_id)
        if outcome == 0:
            raise NotFound(job_id)
        if outcome < 0:
            raise Conflict(
                f"submission {job_id!r} is being processed; delete it once it has finished"
            )

    async def pause(self) -> None:
        """Workers take nothing new until `resume`; running jobs finish."""
        self._state.paused = True

    async def resume(self) -> None:
        self._state.paused = False
        self._wake()

    async def is_paused(self) -> bool:
        return self._state.paused


def _taken(state: int, found: list[tuple[str, Record]], worker: str, now: int) -> Taken:
    """What a take found, as `Queue` reports it."""
    if state:
        return Taken([], paused=state < 0, wait=max(state, 0) / 1000)
    return Taken([Job(job_id, running(rec, worker, now)) for job_id, rec in found])
