"""An idempotency key holds for its whole TTL, even after its job's record is gone: a COMPLETED
record carries the retention TTL, and under volatile-lru it is what Redis evicts first."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from feedback_queue.errors import Conflict
from feedback_queue.job import Status
from feedback_queue.outcomes import Acked
from feedback_queue.queue import EnqueueResult, Queue
from feedback_queue.settings import QueueConfig
from tests.conftest import FakeClock, seeded_backoff
from tests.helpers import submission


@pytest.fixture
def short_lived(client: Redis, clock: FakeClock, queue_name: str) -> Queue:
    """Records kept 1 s once completed, idempotency keys an hour."""
    config = QueueConfig(
        name=queue_name, backoff=seeded_backoff(), retention=1.0, idempotency_ttl=3600.0
    )
    return Queue(client, config, address="test-redis", clock=clock)


async def completed(queue: Queue, client: Redis, content: str, key: str) -> str:
    """Enqueue and complete one keyed job; its id. Its record now carries the retention TTL."""
    first = await queue.enqueue(submission(content, idempotency_key=key))
    [job] = await queue.reserve("w1")
    assert job.id == first.id
    assert await queue.ack("w1", [(job.id, job.token, "done")]) == [Acked.COMPLETED]
    assert 0 < await client.pttl(queue.keys.job(first.id)) <= 1000
    return first.id


async def gone(client: Redis, key: str) -> None:
    """Wait until Redis has expired `key`, asking Redis rather than guessing how long."""
    for _ in range(1000):
        if not await client.exists(key):
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{key} did not expire")


async def assert_key_still_holds(queue: Queue, job_id: str, content: str, key: str) -> None:
    again = await queue.enqueue(submission(content, idempotency_key=key))
    assert again == EnqueueResult(job_id, Status.COMPLETED, duplicate=True)
    with pytest.raises(Conflict, match="idempotency_key"):
        await queue.enqueue(submission("another essay", idempotency_key=key))
    stats = await queue.stats()
    assert (stats.enqueued_total, stats.waiting, stats.delayed) == (1, 0, 0)


async def test_the_key_holds_after_the_record_is_evicted(short_lived: Queue, client: Redis) -> None:
    queue = short_lived
    job_id = await completed(queue, client, "essay", "k1")
    assert await client.delete(queue.keys.job(job_id)) == 1  # what an eviction does
    await assert_key_still_holds(queue, job_id, "essay", "k1")


async def test_the_key_holds_after_the_record_expires(short_lived: Queue, client: Redis) -> None:
    queue = short_lived
    job_id = await completed(queue, client, "essay", "k1")
    await client.pexpire(queue.keys.job(job_id), 1)  # the retention, run out now
    await gone(client, queue.keys.job(job_id))
    await assert_key_still_holds(queue, job_id, "essay", "k1")


async def test_a_batch_of_retries_after_expiry_finds_the_original(
    short_lived: Queue, client: Redis
) -> None:
    queue = short_lived
    job_id = await completed(queue, client, "essay", "k1")
    await client.delete(queue.keys.job(job_id))
    results = await queue.enqueue_many(
        [
            (submission("essay", idempotency_key="k1"), 0.0),
            (submission("essay", idempotency_key="k1"), 0.0),
            (submission("another essay", idempotency_key="k1"), 0.0),
        ]
    )
    assert results[:2] == [EnqueueResult(job_id, Status.COMPLETED, duplicate=True)] * 2
    assert isinstance(results[2], Conflict)
    assert await queue.reserve("w1") == []


async def test_after_its_ttl_the_key_is_free_again(
    short_lived: Queue, client: Redis, clock: FakeClock
) -> None:
    queue = short_lived
    job_id = await completed(queue, client, "essay", "k1")
    await client.delete(queue.keys.job(job_id))
    clock.advance(queue.config.idempotency_ttl + 1)
    fresh = await queue.enqueue(submission("another essay", idempotency_key="k1"))
    assert (fresh.status, fresh.duplicate) == (Status.WAITING, False)
    assert fresh.id != job_id
