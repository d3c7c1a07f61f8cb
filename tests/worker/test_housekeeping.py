"""The housekeeping turn of the worker holding the lease, against a real Redis."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from tests.helpers import redis_ms, submission
from worker_service.housekeeping import Housekeeper


def housekeeper(queue: Queue, worker: str = "keeper") -> Housekeeper:
    async def sleep(_: float) -> None:
        return None

    return Housekeeper(
        queue,
        worker,
        WorkerConfig(),
        closing=asyncio.Event(),
        turn=lambda _wait: None,
        sleep=sleep,
        monotonic=time.monotonic,
    )


async def test_the_sweep_turn_hands_back_the_list_a_reaped_worker_left(
    queue: Queue, client: Redis
) -> None:
    job_id = (await queue.enqueue(submission())).id
    k = queue.keys
    await queue.reserve("ghost")
    await client.zrem(k.workers, "ghost")  # its registration gone, its list not
    await client.zadd(k.reaped, {"ghost": await redis_ms(client)})  # reaped a moment ago
    keeper = housekeeper(queue)
    await keeper.turn_once()  # holds the lease; its first turn sweeps
    assert await queue.waiting_ids() == [job_id]
    assert not await client.exists(k.active("ghost"))
    assert (await queue.stats()).recovered_total == 1
