"""Scenario 8: a worker frozen (SIGSTOP) past the heartbeat grace mid-job, then resumed.

A frozen process is not a dead one: a VM paused for migration, a stop-the-world pause, a
container's cgroup frozen. The fleet cannot tell it from a crash, so the reaper hands its jobs
to others after the grace (DESIGN §1.2: duplicates only where a worker died or froze past the
grace). When it wakes, those attempts are no longer its own: each one it finishes before it
learns so sends a late outcome that must be refused (fenced), change nothing, and be counted in
`stale_outcomes`; each one its check (held.lua) or a progress report finds taken first is
stopped and writes nothing (worker_service/cancels.py). Then it beats, is registered again, and
serves on.

Two gates (processor.py) make the interleaving the same on every run, however loaded the
machine: FBQ_CHAOS_HOLD keeps the frozen worker's slots busy, so it is frozen with every slot
mid-job and its fetch loop out of Redis (not in a take, not waiting for work: see the last two
tests for a wake served during a freeze); FBQ_CHAOS_GATE holds the re-runs of
its jobs elsewhere, so each late outcome meets the dangerous case, the job taken again and still
running, not yet completed. (Without that gate a re-run may complete first; the late ack is then
answered ALREADY, a no-op that `stale_outcomes` does not count.)

The bound: only the jobs the reaper returned from the frozen worker's processing list can run
twice, each at most twice. Here that is exactly the jobs it was running when frozen.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from redis.asyncio import Redis

from feedback_queue.job import Job, Status
from feedback_queue.outcomes import Acked
from feedback_queue.queue import Queue
from feedback_queue.queue.check import check
from tests.chaos.conftest import MakeStack
from tests.chaos.harness import SERVING, Service, Stack
from tests.chaos.journal import DONE, FAIL, START, Event
from tests.helpers import silence, submission

T = TypeVar("T")
WORKERS, CONCURRENCY = 3, 4
# Paced load, from before the freeze until the thawed worker has served new work; the test
# stops the producer then (LIMIT is never reached).
RATE, LIMIT, FLOWING = 90.0, 100_000, 100
GRACE = 4.0  # the shortest the settings allow (more than 3 x the 1 s block timeout)
REFUSED_ACK = re.compile(r"ack of job (\S+) refused")
STOPPED = re.compile(r"job (\S+) attempt \d+ stopped; its outcome is not written")


def running(events: list[Event], pid: int) -> set[str]:
    """Job ids `pid` started and has not finished (its journal's START without DONE/FAIL)."""
    started = {(e.id, e.n) for e in events if e.pid == pid and e.kind == START}
    ended = {(e.id, e.n) for e in events if e.pid == pid and e.kind in (DONE, FAIL)}
    return {job_id for job_id, _ in started - ended}


def refused_acks(worker: Service) -> list[str]:
    """The job ids whose ack the worker logged as refused (a stale token)."""
    return REFUSED_ACK.findall(worker.output())


def stopped(worker: Service) -> list[str]:
    """The job ids whose attempt the worker stopped, writing nothing, once it learnt the attempt
    was no longer its own."""
    return STOPPED.findall(worker.output())


async def await_output(worker: Service, what: str, count: int) -> None:
    """Poll the worker's log until it holds `count` refused acks and stopped attempts; fail
    after a minute."""
    deadline = time.monotonic() + 60
    while len(refused_acks(worker)) + len(stopped(worker)) < count:
        assert time.monotonic() < deadline, f"not within 60s: {what}"
        await asyncio.sleep(0.05)


async def await_redis(stack: Stack, what: str, done: Callable[[Redis], Awaitable[bool]]) -> None:
    """Poll Redis until `done(client)` (no event announces these states); fail after a minute."""
    client = stack.redis_client()
    deadline = time.monotonic() + 60
    try:
        while not await done(client):
            assert time.monotonic() < deadline, f"not within 60s: {what}"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def test_a_worker_frozen_past_the_grace_loses_nothing_and_its_late_outcomes_are_refused(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    hold, gate = tmp_path / "hold", tmp_path / "gate"
    stack = await make_stack(
        seed=808,
        worker_env={
            "FBQ_CONCURRENCY": str(CONCURRENCY),
            "FBQ_HEARTBEAT_GRACE": f"{GRACE:g}s",
            "FBQ_CHAOS_SLEEP": "0.05",
            "FBQ_CHAOS_GATE": str(gate),
        },
    )
    keys = stack.keys_of_queue
    await stack.start_ingest()
    frozen = await stack.start_worker(FBQ_CHAOS_HOLD=str(hold))
    others = await stack.start_workers(WORKERS - 1)
    pid = frozen.pid
    producer = stack.start_producer("p0", count=LIMIT, concurrency=6, rate=RATE)

    # Freeze by progress: once the others have completed a share of the load and every slot
    # of the worker to freeze is mid-job.
    await stack.wait_until(
        "load flowing, and every slot of the worker to freeze mid-job",
        lambda ev: (
            sum(1 for e in ev if e.kind == DONE) >= FLOWING and len(running(ev, pid)) == CONCURRENCY
        ),
    )
    wid = await stack.worker_id_of(frozen)
    stale_before = await stack.stat("stale_outcomes")
    recovered_before = await stack.stat("recovered")
    held = await stack.freeze_worker(frozen)
    assert producer.alive, "frozen under load"
    mid_job = running(stack.events(), pid)  # its journal cannot change while it is frozen
    print(f"frozen {wid}: held {len(held)}, mid-job {len(mid_job)}")
    assert sorted(held) == sorted(mid_job)
    assert len(held) == CONCURRENCY

    # The reaper (another worker) takes it out of the registry and hands its jobs back.
    await await_redis(
        stack, "the frozen worker reaped", lambda c: _is_none(c.zscore(keys.workers, wid))
    )
    assert await stack.stat("recovered") - recovered_before == len(held)
    assert producer.alive, "reaped under load"

    # It wakes; each of its jobs either finishes and has its late ack refused, or is stopped
    # first, while the re-runs of those jobs wait at the gate: taken again, not completed.
    stack.thaw_worker(frozen)
    hold.touch()
    await await_output(frozen, f"{len(held)} late acks refused or attempts stopped", len(held))
    late = refused_acks(frozen)
    assert sorted(late + stopped(frozen)) == sorted(held)
    await await_redis(
        stack,
        f"{len(late)} late outcomes refused",
        lambda c: _at_least(c.hget(keys.stats, "stale_outcomes"), stale_before + len(late)),
    )
    gate.touch()

    # It serves on: registered again, live and ready, completing new work with its own tokens.
    await stack.wait_until(
        "the thawed worker completed new work",
        lambda ev: any(e.pid == pid and e.kind == DONE and e.id not in held for e in ev),
    )
    await await_redis(
        stack,
        "the thawed worker registered again",
        lambda c: _is_not_none(c.zscore(keys.workers, wid)),
    )
    assert await frozen.health("liveness") == SERVING
    assert await frozen.health("readiness") == SERVING

    assert producer.alive, "served under load"
    await stack.stop_producers()
    counts = await stack.drain_and_count(label="frozen-worker")
    assert stack.drained
    assert counts.acknowledged == counts.attempted > FLOWING
    assert (counts.lost, counts.unexpected, counts.twins) == (0, 0, 0)
    # The bound, exactly: each job it was running ran twice, once on it and once elsewhere
    # after the reap; nothing else ran twice.
    events = stack.events()
    starts = Counter(e.key for e in events if e.kind == START)
    key_of = {e.id: e.key for e in events if e.kind == START}
    assert {k for k, n in starts.items() if n > 1} == {key_of[i] for i in held}
    assert max(starts.values()) == 2
    assert counts.duplicated == len(held)
    for job_id in held:
        pids = [e.pid for e in events if e.kind == START and e.id == job_id]
        assert pids[0] == pid
        assert pids[1] != pid
    # Fenced: each job it was running ended there once, its late ack refused (counted once) or
    # its attempt stopped with nothing written; no other worker's outcome was refused.
    assert await stack.stat("stale_outcomes") - stale_before == len(late)
    assert sorted(refused_acks(frozen) + stopped(frozen)) == sorted(held)
    assert [refused_acks(w) + stopped(w) for w in others] == [[]] * len(others)
    print(f"thawed: {len(late)} late acks refused, {len(held) - len(late)} attempts stopped")


async def _is_none(value: Awaitable[object]) -> bool:
    return await value is None


async def _is_not_none(value: Awaitable[object]) -> bool:
    return await value is not None


async def _at_least(value: Awaitable[bytes | str | None], n: int) -> bool:
    return int(await value or 0) >= n


# -- A wake served while its worker is frozen -------------------------------------------------
#
# A worker that is idle waits for the wake token (BLPOP). Frozen right after it got one, it has
# taken nothing yet: the job stays in its lane, and past the grace another worker takes it. When
# the frozen worker wakes, its take must start nothing that another worker runs, and a death
# right after must strand nothing. (With BLMOVE, the idle path moved the job into the frozen
# worker's list before it froze; the reaper had to hand it back and the late start script had to
# see that: a race this design no longer has, kept here as the test of its absence.)


class FrozenAfterWake(Queue):
    """A queue whose worker freezes right after its wait for work answered, before its take
    (wait_for_work's two steps): `while_frozen` runs in between."""

    while_frozen: Callable[[], Awaitable[None]] | None = None

    async def _call(self, command: Awaitable[T]) -> T:
        result = await super()._call(command)
        hook, self.while_frozen = self.while_frozen, None
        if hook is not None:
            await hook()
        return result


async def reaped(queue: Queue, client: Redis, worker: str) -> None:
    """`worker` is silent past the grace while the fleet beats on; the reaper runs."""
    await queue.heartbeat("reaper")
    await silence(client, queue, worker, queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    await queue.reap()


async def frozen_between_wake_and_take(queue: Queue, client: Redis) -> tuple[list[Job], Job]:
    """w1's wait gets the wake token; w1 freezes past the grace; the reaper runs and w2 takes
    the job; then w1 wakes and takes. Returns (what w1 got, w2's attempt)."""
    w1 = FrozenAfterWake(client, queue.config, address="test-redis", clock=queue.clock)
    await queue.enqueue(submission())
    await queue.heartbeat("w1")
    by_w2: list[Job] = []

    async def meanwhile() -> None:
        await reaped(queue, client, "w1")
        await queue.heartbeat("w2")
        by_w2.extend(await queue.reserve("w2"))

    w1.while_frozen = meanwhile
    late = (await w1.wait_for_work("w1", 1, 0.1)).jobs
    assert await client.lrange(queue.keys.active("w1"), 0, -1) == []
    [new] = by_w2
    assert new.attempts == 1
    return late, new


async def test_a_late_start_after_the_reap_does_not_take_the_attempt_back(
    queue: Queue, client: Redis
) -> None:
    late, new = await frozen_between_wake_and_take(queue, client)
    await queue.heartbeat("w1")  # awake, beating again
    # The job is w2's now: w1 gets nothing to run, and w2's ack completes it.
    assert late == []
    assert await queue.ack("w2", [(new.id, new.token, "ok")]) == [Acked.COMPLETED]


async def test_a_late_start_leaves_no_job_stranded_when_that_worker_dies(
    queue: Queue, client: Redis
) -> None:
    _, new = await frozen_between_wake_and_take(queue, client)
    await queue.heartbeat("w1")
    await queue.ack("w2", [(new.id, new.token, "ok")])
    # w1 dies (kill -9) before it finishes whatever it runs; the reaper takes its list.
    await reaped(queue, client, "w1")
    job = await queue.get(new.id)
    # Completed by w2, or back in waiting to run again: never ACTIVE under a dead worker.
    assert job.status in (Status.COMPLETED, Status.WAITING), (job.status, job.record.worker)
    assert (await check(queue)).violations == []
