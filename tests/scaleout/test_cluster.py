"""Redis Cluster: three masters as local processes.

The queue works unchanged (all of a queue's keys share one hash tag, so every script and BLMOVE
stays in one slot), health reports the node that holds the queue, and a kill -9 of that master
under load (AOF always, restarted on its files) loses nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from feedback_queue import health
from feedback_queue.connection import create_client
from feedback_queue.errors import ConfigError, QueueError
from feedback_queue.queue import Queue
from feedback_queue.settings import Settings
from tests.helpers import submission
from tests.scaleout.cluster import ClusterSetup
from tests.scaleout.load import WORKER, recording_worker, submit_until_acknowledged

JOBS = 300


def clustered_queue(cluster: ClusterSetup, name: str) -> Queue:
    settings = Settings.from_env(
        {"REDIS_URL": cluster.url, "FBQ_REDIS_CLUSTER": "true", "FBQ_QUEUE": name}
    )
    return Queue.from_settings(settings, create_client(settings.redis))


async def test_the_queue_works_unchanged_on_a_cluster(cluster: ClusterSetup) -> None:
    queue = clustered_queue(cluster, "clustered")
    worker, processed = recording_worker(queue)
    try:
        accepted = await queue.enqueue_many(
            [(submission(idempotency_key=f"k{n}"), 0.0) for n in range(JOBS)]
        )
        assert all(not isinstance(a, QueueError) for a in accepted)
        report = await health.check(queue)
        assert report.connected
        await worker.run(burst=True)
        assert sorted(processed) == sorted(f"k{n}" for n in range(JOBS))
        assert (await queue.stats()).completed == JOBS
    finally:
        await queue.close()


async def test_a_master_killed_under_load_loses_nothing_acknowledged(
    cluster: ClusterSetup,
) -> None:
    queue = clustered_queue(cluster, "restarted")
    node = cluster.node_of(queue.keys.fair)
    worker, processed = recording_worker(queue)
    working = asyncio.create_task(worker.run())
    acknowledged: set[str] = set()
    try:
        for n in range(JOBS):
            await submit_until_acknowledged(queue, f"k{n}")
            acknowledged.add(f"k{n}")
            if n == JOBS // 2:
                node.kill()
                node.restart()  # same port, same AOF (always): nothing acknowledged is gone
                await asyncio.to_thread(cluster.until_ok)
        deadline = time.monotonic() + 90
        while set(processed) != acknowledged:  # the drain: waits on the worker's progress
            assert time.monotonic() < deadline, f"{len(acknowledged - set(processed))} missing"
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await working
        await queue.close()
    counts = Counter(processed)
    duplicated = sum(c - 1 for c in counts.values() if c > 1)
    print(f"cluster master restart: acknowledged={len(acknowledged)} lost=0 dup={duplicated}")
    assert duplicated <= WORKER.concurrency


def test_wait_for_replicas_is_refused_on_a_cluster_for_now() -> None:
    with pytest.raises(ConfigError, match="FBQ_MIN_REPLICAS_ACK"):
        Settings.from_env(
            {"REDIS_URL": "redis://h:1/0", "FBQ_REDIS_CLUSTER": "1", "FBQ_MIN_REPLICAS_ACK": "1"}
        )
