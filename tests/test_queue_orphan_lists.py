"""Processing lists without a registered worker (issue #17, proven failure 7).

A worker the reaper took for dead (it was frozen, say) may wake and take again before its next
beat. Its new list must not be invisible: taking registers it again, so the reaper finds it.
A list whose worker is not registered (left by a version whose idle path moved a job in before
the worker registered, or by any bug yet unknown) is not lost either: the reaper watches reaped
workers' lists and hands such a list back once a sweep.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from feedback_queue.job import Status
from feedback_queue.outcomes import Acked
from feedback_queue.queue import Queue
from feedback_queue.queue.check import check
from tests.helpers import silence, submission


async def test_a_reaped_worker_that_takes_again_is_registered_and_reapable(
    queue: Queue, client: Redis
) -> None:
    first, second = [(await queue.enqueue(submission(f"s{i}"))).id for i in range(2)]
    await queue.heartbeat("reaper")  # a live fleet: the reaper beats all along
    await queue.heartbeat("frozen")
    [held] = await queue.reserve("frozen")
    await silence(client, queue, "frozen", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")  # the reaper beats before it reaps
    assert await queue.reap() == 1  # its job went back; so did its registration
    assert await client.zscore(queue.keys.workers, "frozen") is None

    # It wakes and takes before it beats.
    taken = await queue.reserve("frozen", count=2)
    assert sorted(j.id for j in taken) == sorted([first, second])
    assert await client.zscore(queue.keys.workers, "frozen") is not None
    assert (await queue.stats()).active == 2
    assert (await check(queue)).violations == []
    # Its late outcome of the reaped attempt is refused; the new attempts are its own.
    assert await queue.ack("frozen", [(held.id, held.token, "late")]) == [Acked.STALE]

    await silence(client, queue, "frozen", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 2
    assert await client.llen(queue.keys.active("frozen")) == 0


async def test_the_idle_path_registers_the_worker_too(queue: Queue, client: Redis) -> None:
    waiter = asyncio.create_task(queue.reserve("fresh", block=5.0))
    await asyncio.sleep(0)  # the worker waits for work, unregistered
    job_id = (await queue.enqueue(submission())).id
    [job] = await waiter
    assert job.id == job_id
    assert await client.zscore(queue.keys.workers, "fresh") is not None


async def test_the_reaper_hands_back_a_list_whose_worker_is_not_registered(
    queue: Queue, client: Redis
) -> None:
    held, orphaned = [(await queue.enqueue(submission(f"s{i}"))).id for i in range(2)]
    k = queue.keys
    await queue.heartbeat("reaper")
    await queue.heartbeat("frozen")
    await queue.reserve("frozen")
    await silence(client, queue, "frozen", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1
    assert await queue.reap_orphans() == 0  # watched, but its list is empty
    [again] = await queue.reserve("other")
    assert again.id == held  # another worker runs the held job
    # The reaped worker's list holds a job while its registration is gone.
    [job] = await queue.reserve("frozen")
    assert job.id == orphaned
    await client.zrem(k.workers, "frozen")
    assert await queue.reap() == 0  # the per-turn reaper knows only registered workers

    assert await queue.reap_orphans() == 1
    assert await queue.waiting_ids() == [orphaned]
    assert not await client.exists(k.active("frozen"))
    assert (await queue.get(orphaned)).status == Status.WAITING
    assert await queue.reap_orphans() == 0
    assert (await check(queue)).violations == []
    # Its late ack is refused: the attempt was handed back.
    assert await queue.ack("frozen", [(job.id, job.token, "late")]) == [Acked.STALE]


async def test_orphan_search_spares_registered_workers(queue: Queue, client: Redis) -> None:
    await queue.enqueue(submission())
    await queue.heartbeat("alive")
    [job] = await queue.reserve("alive")
    assert await queue.reap_orphans() == 0
    assert await queue.ack("alive", [(job.id, job.token, "ok")]) == [Acked.COMPLETED]
