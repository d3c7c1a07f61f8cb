"""The sweep: one call forgets every expired idempotency key and trims the whole expired part of
the completed index, in bounded script calls, whatever the backlog."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from feedback_queue.errors import Conflict
from feedback_queue.outcomes import Acked
from feedback_queue.queue import EnqueueResult, Queue
from tests.conftest import FakeClock
from tests.helpers import submission

EXPIRED, LIVE = 5_000, 10


async def test_one_sweep_forgets_every_expired_key_and_keeps_the_live_ones(
    queue: Queue, client: Redis, clock: FakeClock
) -> None:
    ttl = queue.config.idempotency_ttl
    old = await queue.enqueue_many(
        [(submission(f"essay {n}", idempotency_key=f"old-{n}"), 0.0) for n in range(EXPIRED)]
    )
    assert all(isinstance(r, EnqueueResult) for r in old)
    clock.advance(ttl / 2)
    live = await queue.enqueue_many(
        [(submission(f"essay {n}", idempotency_key=f"live-{n}"), 0.0) for n in range(LIVE)]
    )
    clock.advance(ttl / 2 + 1)  # the old keys are past their TTL, the live ones are not
    assert await queue.sweep() == (EXPIRED, 0)
    k = queue.keys
    assert await client.hlen(k.idem) == LIVE
    assert await client.zcard(k.idem_expiry) == LIVE
    # The live keys still hold: the same payload is the same job, another is refused.
    first = live[0]
    assert isinstance(first, EnqueueResult)
    again = await queue.enqueue(submission("essay 0", idempotency_key="live-0"))
    assert (again.id, again.duplicate) == (first.id, True)
    with pytest.raises(Conflict):
        await queue.enqueue(submission("other", idempotency_key="live-0"))
    # An old key is free again: a new job.
    fresh = await queue.enqueue(submission("essay 0", idempotency_key="old-0"))
    assert not fresh.duplicate
    assert await queue.sweep() == (0, 0)


async def test_the_completed_index_is_trimmed_in_batches_until_done(
    queue: Queue, client: Redis, clock: FakeClock
) -> None:
    jobs = 25
    # Unkeyed but one: the completed index alone needs three batches.
    await queue.enqueue_many([(submission(f"essay {n}"), 0.0) for n in range(jobs)])
    await queue.enqueue(submission("keyed", idempotency_key="k"))
    *taken, last = await queue.reserve("w1", count=jobs + 1)
    for job in taken:  # one completion per ms: the index has no ties
        assert await queue.ack("w1", [(job.id, job.token, "done")]) == [Acked.COMPLETED]
        clock.advance(0.001)
    clock.advance(max(queue.config.idempotency_ttl, queue.config.retention) + 1)
    assert await queue.ack("w1", [(last.id, last.token, "done")]) == [
        Acked.COMPLETED
    ]  # within the retention
    assert await queue.sweep(batch=10) == (1, jobs)
    assert await client.zcard(queue.keys.idem_expiry) == 0
    assert await client.zrange(queue.keys.completed, 0, -1) == [last.id.encode()]
