"""The reaper's guards, each on its own: weakening any one of them makes a test here fail."""

from __future__ import annotations

from redis.asyncio import Redis

from feedback_queue.job import Status
from feedback_queue.outcomes import Acked, Reaped
from feedback_queue.queue import Queue
from tests.helpers import silence, submission


async def test_reap_spares_a_worker_that_beat_after_it_was_listed(
    queue: Queue, client: Redis
) -> None:
    # reapable.lua listed the worker a moment ago; it beat before reap.lua ran: nothing moves.
    job_id = (await queue.enqueue(submission())).id
    await queue.heartbeat("late-beater")
    await queue.reserve("late-beater")
    k, grace = queue.keys, int(queue.config.heartbeat_grace * 1000)
    keys = queue.reap_keys("late-beater")
    args: list[int | str] = [queue.now_arg(), "late-beater", grace, queue.config.max_attempts]
    outcome = await queue.scripts.reap(keys=keys, args=args)
    assert outcome == Reaped.BEAT_AGAIN
    assert (await queue.get(job_id)).status == Status.ACTIVE
    assert await client.llen(k.active("late-beater")) == 1


async def test_reapable_lists_only_workers_silent_for_the_grace(
    queue: Queue, client: Redis
) -> None:
    grace = queue.config.heartbeat_grace
    for worker in ("fresh", "quiet", "silent"):
        await queue.heartbeat(worker)
    await silence(client, queue, "quiet", grace - 1)
    await silence(client, queue, "silent", grace + 1)
    await queue.heartbeat("fresh")
    listed = await queue.scripts.reapable(
        keys=[queue.keys.workers, queue.keys.reaper], args=[int(grace * 1000)]
    )
    assert listed == [b"silent"]


async def test_reap_leaves_alone_a_leftover_id_whose_job_another_worker_holds(
    queue: Queue, client: Redis
) -> None:
    job_id = (await queue.enqueue(submission())).id
    await queue.heartbeat("reaper")
    await queue.heartbeat("w2")
    [held] = await queue.reserve("w2")
    # A leftover of an earlier attempt in a silent worker's list: that attempt is not w1's.
    await client.lpush(queue.keys.active("w1"), job_id)
    await queue.heartbeat("w1")
    await silence(client, queue, "w1", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    await queue.heartbeat("w2")
    assert await queue.reap() == 0
    job = await queue.get(job_id)
    assert (job.status, job.record.worker, job.attempts) == (Status.ACTIVE, "w2", 1)
    assert await queue.waiting_ids() == []
    assert await queue.ack("w2", [(held.id, held.token, "ok")]) == [Acked.COMPLETED]
