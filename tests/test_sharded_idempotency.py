"""FBQ_SHARDS and idempotency: the same key means the same thing on one shard or many, whoever
submits under it. The shard queues share the tests' one Redis (they differ only in key names).

A submission's digest covers all of it, its submitter included: another submitter under the
same key is another payload, refused like any other."""

from __future__ import annotations

import dataclasses

import pytest
from redis.asyncio import Redis

from feedback_queue import timing
from feedback_queue.errors import Conflict
from feedback_queue.job import Status
from feedback_queue.keys import shard_names
from feedback_queue.queue import EnqueueResult, Queue
from feedback_queue.settings import QueueConfig
from feedback_queue.sharded import ALPHABET, ShardedQueue
from feedback_queue.timing import Tally
from tests.conftest import FakeClock, seeded_backoff
from tests.helpers import submission


@pytest.fixture(params=[1, 3], ids=["1-shard", "3-shards"])
def sharded(
    request: pytest.FixtureRequest, client: Redis, clock: FakeClock, queue_name: str
) -> ShardedQueue:
    config = QueueConfig(name=queue_name, backoff=seeded_backoff())
    names = shard_names(queue_name, request.param)
    shards = [
        Queue(
            client,
            dataclasses.replace(config, name=name),
            address="test-redis",
            id_mark=ALPHABET[index] if len(names) > 1 else "",
            clock=clock,
        )
        for index, name in enumerate(names)
    ]
    return ShardedQueue(queue_name, shards)


def submitters(sharded: ShardedQueue) -> tuple[str, str]:
    """Two submitters, on different shards of their own when there are several (where routing
    by submitter would split one key over two shards)."""
    names = [f"learner-{n}" for n in range(100)]
    own = sharded.shard_of_submitter
    return names[0], next(
        n for n in names[1:] if len(sharded.shards) == 1 or own(n) != own(names[0])
    )


async def one(sharded: ShardedQueue, content: str, who: str, key: str) -> EnqueueResult | Exception:
    [result] = await sharded.enqueue_many(
        [(submission(content, submitter_id=who, idempotency_key=key), 0.0)]
    )
    return result


async def test_a_key_is_one_submitters_whatever_the_shards(sharded: ShardedQueue) -> None:
    alice, bob = submitters(sharded)
    first = await one(sharded, "essay", alice, "k1")
    assert isinstance(first, EnqueueResult)
    assert not first.duplicate
    assert isinstance(await one(sharded, "another essay", bob, "k1"), Conflict)
    assert isinstance(await one(sharded, "essay", bob, "k1"), Conflict)
    assert isinstance(await one(sharded, "another essay", alice, "k1"), Conflict)
    again = await one(sharded, "essay", alice, "k1")
    assert again == EnqueueResult(first.id, Status.WAITING, duplicate=True)
    stats = await sharded.stats()
    assert (stats.enqueued_total, stats.waiting) == (1, 1)
    assert (await sharded.get(first.id)).status == Status.WAITING


async def test_one_batch_from_two_submitters_under_one_key(sharded: ShardedQueue) -> None:
    alice, bob = submitters(sharded)
    results = await sharded.enqueue_many(
        [
            (submission("essay", submitter_id=alice, idempotency_key="k2"), 0.0),
            (submission("another essay", submitter_id=bob, idempotency_key="k2"), 0.0),
            (submission("essay", submitter_id=alice, idempotency_key="k2"), 0.0),
        ]
    )
    first = results[0]
    assert isinstance(first, EnqueueResult)
    assert isinstance(results[1], Conflict)
    assert results[2] == EnqueueResult(first.id, Status.WAITING, duplicate=True)
    assert (await sharded.stats()).enqueued_total == 1


async def test_unkeyed_submissions_still_go_to_their_submitters_shard(
    sharded: ShardedQueue,
) -> None:
    alice, bob = submitters(sharded)
    results = await sharded.enqueue_many(
        [(submission("essay", submitter_id=who), 0.0) for who in (alice, bob)]
    )
    ids = [r.id for r in results if isinstance(r, EnqueueResult)]
    for job_id, who in zip(ids, (alice, bob), strict=True):
        shard = sharded.shards[sharded.shard_of_submitter(who)]
        assert (await shard.get(job_id)).status == Status.WAITING


async def test_the_shards_histograms_are_added_up(sharded: ShardedQueue) -> None:
    """Not idempotency, but the same shards: each worker adds its counts to its own shard, and
    the fleet's histograms (GetTimings) are their sum."""
    for index, shard in enumerate(sharded.shards):
        tally = Tally()
        tally.observe(timing.WAIT, ("essay",), 0.02 * (index + 1))
        assert await shard.add_timings(f"w{index}", 1, tally.take())
    [wait] = await sharded.timings()
    assert wait.labels == (("kind", "essay"),)
    assert wait.series.count == len(sharded.shards)
    assert round(wait.series.sum, 6) == round(
        sum(0.02 * (i + 1) for i in range(len(sharded.shards))), 6
    )
