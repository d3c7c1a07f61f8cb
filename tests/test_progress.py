"""Progress reports against a real Redis: kept per running attempt, fenced by its token,
throttled, shown while it runs and gone once it ends, and the attempt's own lease: the reaper
keeps an attempt that reported within the grace, even when its worker is silent, and takes the
rest.

The adversary: a worker frozen past the grace whose job keeps reporting (from another thread of
the same process, say), a stale attempt that reports after its job ran again, a replayed report,
a cancel in the middle, and clocks: every stamp here is Redis's.
"""

from __future__ import annotations

import re

import pytest
from redis.asyncio import Redis

from feedback_queue.job import Job, Status
from feedback_queue.outcomes import Acked, Progressed
from feedback_queue.processing import JobContext
from feedback_queue.progress import Progress
from feedback_queue.queue import Queue
from feedback_queue.queue.check import check
from tests.helpers import redis_ms, silence, submission

GAP = 500  # ms: the least time between two accepted reports of one job


def report(
    job: Job, percent: float, message: str = "", partial: str = ""
) -> tuple[str, str, bytes]:
    return job.id, job.token, Progress(percent, message, partial).encode()


async def taken(queue: Queue, n: int, worker: str = "w1") -> list[Job]:
    for i in range(n):
        await queue.enqueue(submission(f"essay {i}"))
    await queue.heartbeat(worker)
    return await queue.reserve(worker, count=n)


async def test_a_report_shows_while_its_attempt_runs_and_goes_with_it(queue: Queue) -> None:
    [job] = await taken(queue, 1)
    assert (await queue.get(job.id)).progress is None
    assert await queue.report([report(job, 40, "second part", '{"so_far": 1}')], GAP) == [
        Progressed.OK
    ]
    seen = await queue.get(job.id)
    assert seen.progress is not None
    assert (seen.progress.percent, seen.progress.message, seen.progress.partial) == (
        40.0,
        "second part",
        '{"so_far": 1}',
    )
    info = seen.to_info(5)
    assert (info.progress.percent, info.progress.message) == (40.0, "second part")
    assert info.progress.updated_at.ToMilliseconds() == seen.progress.updated_ms
    assert not seen.to_info(5, abridged=True).progress.partial_result
    await queue.ack("w1", [(job.id, job.token, "done")])
    done = await queue.get(job.id)
    assert done.progress is None
    assert not done.to_info(5).HasField("progress")
    k = queue.keys
    assert await queue.client.exists(k.progress, k.leases) == 0  # the ack took both
    assert (await check(queue)).violations == []


async def test_reports_are_throttled_fenced_and_stop_a_cancelled_attempt(
    queue: Queue, client: Redis
) -> None:
    a, b = await taken(queue, 2)
    assert await queue.report([report(a, 10), report(b, 10)], GAP) == [Progressed.OK] * 2
    # Too soon: the first is refused and nothing changes; a replay is refused alike.
    assert await queue.report([report(a, 20)], GAP) == [Progressed.THROTTLED]
    assert (await queue.get(a.id)).progress.percent == 10.0  # type: ignore[union-attr]
    assert await queue.report([report(a, 20)], 0) == [Progressed.OK]
    # b is reaped and runs again elsewhere: its old attempt's reports renew and show nothing.
    await queue.heartbeat("reaper")
    await client.zrem(queue.keys.leases, b.id)  # its lease is not fresh either
    await silence(client, queue, "w1", queue.config.heartbeat_grace + 1)
    await client.zadd(queue.keys.leases, {a.id: await redis_ms(client)})  # a's is
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1
    [b2] = await queue.reserve("w2")
    assert b2.id == b.id
    assert await queue.report([report(b, 90)], 0) == [Progressed.LOST]
    assert (await queue.get(b.id)).progress is None  # not the old attempt's 10%
    assert await queue.report([report(b2, 5)], 0) == [Progressed.OK]
    await queue.cancel(a.id, "alice")
    assert await queue.report([report(a, 30)], 0) == [Progressed.CANCELLED]
    assert await queue.ack("w1", [(a.id, a.token, "late")]) == [Acked.CANCELLED]
    assert (await check(queue)).violations == []


async def test_the_reaper_keeps_an_attempt_that_reports_and_takes_the_silent_one(
    queue: Queue, client: Redis
) -> None:
    """The worker's beats stopped (frozen housekeeping, say) but one of its jobs reports: that
    attempt lives on, its silent sibling goes back, and once the reports stop too the reaper
    takes it, one grace after the last report, by Redis's clock."""
    talker, mute = await taken(queue, 2)
    await queue.heartbeat("reaper")
    assert await queue.report([report(talker, 50)], GAP) == [Progressed.OK]
    await silence(client, queue, "w1", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1  # the mute one
    assert (await queue.get(mute.id)).status == Status.WAITING
    kept = await queue.get(talker.id)
    assert (kept.status, kept.record.worker) == (Status.ACTIVE, "w1")
    assert await queue.client.lrange(queue.keys.active("w1"), 0, -1) == [talker.id.encode()]
    # Still registered, as of its last report, so the reaper looks at it again later.
    stamp = await client.zscore(queue.keys.workers, "w1")
    assert stamp == await client.zscore(queue.keys.leases, talker.id)
    assert await queue.reap() == 0  # the lease is fresh
    # The reports stop: a grace later (aged by hand, on Redis's clock) it is reaped too.
    lapsed = await redis_ms(client) - int(queue.config.heartbeat_grace * 1000) - 1
    await client.zadd(queue.keys.leases, {talker.id: lapsed})
    await client.zadd(queue.keys.workers, {"w1": lapsed})
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1
    assert (await queue.get(talker.id)).status == Status.WAITING
    assert await queue.report([report(talker, 60)], 0) == [Progressed.LOST]
    assert (await check(queue)).violations == []


async def test_the_sweep_drops_leases_older_than_the_grace(queue: Queue, client: Redis) -> None:
    fresh, old = await taken(queue, 2)
    await queue.report([report(fresh, 1), report(old, 1)], GAP)
    lapsed = await redis_ms(client) - int(queue.config.heartbeat_grace * 1000) - 1
    await client.zadd(queue.keys.leases, {old.id: lapsed})
    await queue.sweep()
    assert await client.zrange(queue.keys.leases, 0, -1) == [fresh.id.encode()]
    assert await client.hkeys(queue.keys.progress) == [fresh.id.encode()]


async def test_an_earlier_attempts_fresh_report_keeps_no_later_one_alive(
    queue: Queue, client: Redis
) -> None:
    """A report renews the lease of the attempt that made it, and only that one: handed back
    just after reporting, the job runs again elsewhere, silent, and is reaped on time."""
    [first] = await taken(queue, 1)
    assert await queue.report([report(first, 30)], GAP) == [Progressed.OK]
    assert await queue.release("w1", [first]) == 1  # its lease stays fresh a while
    await queue.heartbeat("reaper")
    await queue.heartbeat("w2")
    [again] = await queue.reserve("w2")
    assert again.id == first.id
    await silence(client, queue, "w2", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1
    assert (await queue.get(first.id)).status == Status.WAITING
    assert (await check(queue)).violations == []


def test_a_report_out_of_bounds_says_what_to_fix_and_is_not_kept() -> None:
    kept: list[Progress] = []

    class Sink:
        max_bytes = 100

        def offer(self, job_id: str, progress: Progress) -> None:
            kept.append(progress)

    job = JobContext("j1", submission("essay"), 1, 5, sink=Sink())
    for kwargs, says in (
        ({"percent": -1}, "percent must be from 0 to 100"),
        ({"percent": 101}, "percent must be from 0 to 100"),
        ({"percent": float("nan")}, "percent must be from 0 to 100"),
        ({"percent": True}, "percent must be a number"),
        ({"percent": "50"}, "percent must be a number"),
        ({"message": "x" * 201}, "at most 200 characters"),
        ({"partial": "y" * 101}, "over the 100 a report may carry (FBQ_MAX_PROGRESS_BYTES)"),
    ):
        with pytest.raises(ValueError, match=re.escape(says)):
            job.report(**kwargs)
    assert kept == []
    job.report(percent=100, message="x" * 200, partial="y" * 100)  # the bounds themselves
    assert len(kept) == 1
    # Without a worker (a context made by hand) a report is checked all the same.
    with pytest.raises(ValueError, match="percent"):
        JobContext("j2", submission("essay"), 1, 5).report(percent=500)
