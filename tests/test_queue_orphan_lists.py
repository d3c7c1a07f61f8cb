"""Processing lists without a registered worker (issue #17, proven failure 7).

A worker the reaper took for dead (it was frozen, say) may wake and take again before its next
beat. Its new list must not be invisible: taking registers it again, so the reaper finds it.
A reaped worker that wakes, BLMOVEs a job and dies before its start script leaves a list whose
worker is not registered: the reaper watches reaped workers' lists and hands it back once a
sweep, and a start script that runs after that hand-back starts nothing.
"""

from __future__ import annotations

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

    # It wakes and takes before it beats: the backlog path (take) and the idle one (start).
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
    job_id = (await queue.enqueue(submission())).id
    # Nothing to take at once: the worker waits on BLMOVE, unregistered, and gets the job.
    assert await client.lrem(queue.keys.waiting, 0, job_id) == 1
    await client.lpush(queue.keys.waiting, job_id)
    [job] = (await queue.wait_one("fresh", 1.0)).jobs
    assert job.id == job_id
    assert await client.zscore(queue.keys.workers, "fresh") is not None


async def test_the_reaper_hands_back_what_a_reaped_worker_blmoved_before_it_died(
    queue: Queue, client: Redis
) -> None:
    held, blmoved = [(await queue.enqueue(submission(f"s{i}"))).id for i in range(2)]
    k = queue.keys
    await queue.heartbeat("reaper")
    await queue.heartbeat("frozen")
    await queue.reserve("frozen")
    await silence(client, queue, "frozen", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1
    assert await queue.reap_orphans() == 0  # watched, but its list is empty
    assert await client.lrem(k.waiting, 0, held) == 1  # another worker runs the held job
    # It wakes, its BLMOVE moves a job into its list, and it dies before its start script:
    # an id in the list of a worker the registry does not know, its record still WAITING.
    assert await client.lmove(k.waiting, k.active("frozen"), "RIGHT", "LEFT") == blmoved.encode()
    assert await queue.reap() == 0  # the per-turn reaper knows only registered workers

    assert await queue.reap_orphans() == 1
    assert await client.lrange(k.waiting, 0, -1) == [blmoved.encode()]
    assert not await client.exists(k.active("frozen"))
    assert (await queue.get(blmoved)).status == Status.WAITING
    assert await queue.reap_orphans() == 0

    # The start script of that BLMOVE, had it run after all, starts nothing now.
    keys = [k.active("frozen"), k.waiting, k.paused, k.job_prefix, k.limiter, k.started, k.stats]
    keys.append(k.workers)
    state, _, record = await queue.scripts.start(keys=keys, args=[0, "frozen", blmoved, 0, 0])
    assert (state, record) == (0, b"")
    assert (await queue.get(blmoved)).status == Status.WAITING
    assert await client.hget(k.started, blmoved) is None
    assert await client.lrange(k.waiting, 0, -1) == [blmoved.encode()]


async def test_orphan_search_spares_registered_workers(queue: Queue, client: Redis) -> None:
    await queue.enqueue(submission())
    await queue.heartbeat("alive")
    [job] = await queue.reserve("alive")
    assert await queue.reap_orphans() == 0
    assert await queue.ack("alive", [(job.id, job.token, "ok")]) == [Acked.COMPLETED]
