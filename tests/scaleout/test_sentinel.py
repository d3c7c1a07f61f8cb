"""Redis Sentinel failover under load, counted the Jepsen way.

A producer submits with idempotency keys and retries through the outage; an in-process worker
records every processing; the master is killed with -9 halfway, the sentinels promote the
replica, and the old master comes back as its replica. With FBQ_MIN_REPLICAS_ACK=1 an enqueue
is acknowledged only once a replica has it, so nothing acknowledged may be lost; without it,
the loss seen is reported (asynchronous replication promises nothing there).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedback_queue.connection import create_client
from feedback_queue.errors import QueueError
from feedback_queue.queue import Queue
from feedback_queue.settings import Settings
from tests.conftest import server_binary
from tests.scaleout.load import WORKER, recording_worker, submit_until_acknowledged
from tests.scaleout.sentinel import SentinelSetup

JOBS = 200


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[SentinelSetup]:
    setup = SentinelSetup(tmp_path, server_binary())
    try:
        yield setup.start()
    finally:
        setup.stop()


async def failover_under_load(setup: SentinelSetup, min_replicas: int) -> dict[str, int]:
    settings = Settings.from_env(
        {
            "REDIS_URL": setup.url,
            "FBQ_QUEUE": f"sentinel-{min_replicas}",
            "FBQ_MIN_REPLICAS_ACK": str(min_replicas),
            "FBQ_HEARTBEAT_GRACE": "5s",
        }
    )
    queue = Queue.from_settings(settings, create_client(settings.redis))
    worker, processed = recording_worker(queue)
    working = asyncio.create_task(worker.run())
    attempted: set[str] = set()
    acknowledged: set[str] = set()
    old_master = setup.master_port()
    promoted = 0
    for n in range(JOBS):
        key = f"k{n}"
        attempted.add(key)
        await submit_until_acknowledged(queue, key)
        acknowledged.add(key)
        if n == JOBS // 2:
            assert setup.master is not None
            setup.master.kill()
            # The old master comes back (as a replica of the new one, once the sentinels see it).
            promoted = await asyncio.to_thread(_restart_after_failover, setup, old_master)
    deadline = time.monotonic() + 90
    while not await drained(queue):  # waits on the worker's progress
        assert time.monotonic() < deadline, "not drained"
        await asyncio.sleep(0.05)
    worker.stop()
    await working
    await queue.close()
    counts = Counter(processed)
    result = {
        "attempted": len(attempted),
        "acknowledged": len(acknowledged),
        "lost": len(acknowledged - set(processed)),
        "unexpected": len(set(processed) - attempted),
        "duplicated": sum(c - 1 for c in counts.values() if c > 1),
        "old_master_port": old_master or 0,
        "promoted_port": promoted,
    }
    print(f"sentinel failover, FBQ_MIN_REPLICAS_ACK={min_replicas}: {result}")
    return result


async def drained(queue: Queue) -> bool:
    """Nothing left to run: waiting, active and delayed are empty."""
    try:
        stats = await queue.stats()
    except QueueError:
        return False
    return stats.waiting == stats.active == stats.delayed == 0


def _restart_after_failover(setup: SentinelSetup, old_master: int | None) -> int:
    """Once the sentinels name a new master, restart the old one; the new master's port."""
    setup._until(lambda: setup.master_port() not in (None, old_master), "no failover")
    promoted = setup.master_port()
    assert promoted is not None
    assert setup.master is not None
    setup.master.restart()
    return promoted


async def test_sentinel_failover_with_wait_loses_nothing_acknowledged(
    sentinel_setup: SentinelSetup,
) -> None:
    counts = await failover_under_load(sentinel_setup, min_replicas=1)
    assert counts["promoted_port"] not in (0, counts["old_master_port"])  # a real failover
    assert counts["acknowledged"] == JOBS
    assert (counts["lost"], counts["unexpected"]) == (0, 0)
    assert counts["duplicated"] <= WORKER.concurrency  # jobs in flight at the kill


async def test_sentinel_failover_without_wait_reports_what_it_lost(
    sentinel_setup: SentinelSetup,
) -> None:
    counts = await failover_under_load(sentinel_setup, min_replicas=0)
    # Asynchronous replication: an acknowledged write the replica had not received when the
    # master died is gone. The count is reported above; only unexpected work is impossible.
    assert counts["unexpected"] == 0
    assert counts["acknowledged"] == JOBS
