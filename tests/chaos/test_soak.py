"""The soak: mixed faults for FBQ_SOAK_MINUTES (default 10) under steady load, then the count.

Not part of CI: deselected unless `pytest -m soak` (conftest.py). Every fault of the other
scenarios, chosen by the seed (FBQ_SOAK_SEED, default 1), a few seconds apart: kill -9 of a
worker, SIGTERM of a worker, kill -9 of ingest, kill -9 of Redis (AOF `always`, so nothing
acknowledged may be lost). Then the producers stop, the queue drains, and the counts are
reported and asserted like everywhere else.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.chaos.conftest import MakeStack
from tests.chaos.harness import Fault, Stack

MINUTES = float(os.environ.get("FBQ_SOAK_MINUTES", "10"))
SEED = int(os.environ.get("FBQ_SOAK_SEED", "1"))
WORKERS, CONCURRENCY = 3, 4
FAULTS = ("kill-worker", "term-worker", "kill-ingest", "kill-redis")


async def fault(stack: Stack, kind: str) -> None:
    if kind == "kill-worker":
        await stack.kill_worker()
    elif kind == "term-worker":
        worker = stack.rng.choice(stack.live_workers())
        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)  # its running jobs finish or go back
        assert await worker.exit_code(60) == 0
        stack.faults.append(Fault("term-worker", time.time()))
        await stack.start_worker()
    elif kind == "kill-ingest":
        await stack.kill_ingest()
    else:
        # No worker dies: with `always` nothing should run twice; the bound allows what the
        # fleet held, as a worker that cannot beat during the outage might be reaped.
        stack.kill_redis(in_flight=len(stack.live_workers()) * CONCURRENCY)
        await asyncio.sleep(0.5)
        stack.restart_redis()


@pytest.mark.soak
@pytest.mark.timeout(int(MINUTES * 60) + 900)
async def test_soak_mixed_faults(make_stack: MakeStack) -> None:
    stack = await make_stack(
        seed=SEED,
        appendfsync="always",
        worker_env={"FBQ_CONCURRENCY": str(CONCURRENCY), "FBQ_HEARTBEAT_GRACE": "6s"},
    )
    await stack.start_ingest()
    await stack.start_workers(WORKERS)
    for name in ("p0", "p1"):
        stack.start_producer(name, seconds=MINUTES * 60, concurrency=4, rate=40)
    started = time.monotonic()
    while time.monotonic() - started < MINUTES * 60:
        await asyncio.sleep(stack.rng.uniform(3.0, 8.0))
        await fault(stack, stack.rng.choice(FAULTS))
    await stack.wait_producers(timeout=300)
    counts = await stack.drain_and_count(timeout=300, label=f"soak-{MINUTES:g}min")
    print(f"soak: {len(stack.faults)} faults in {time.monotonic() - started:.0f}s")
    assert counts.acknowledged > 0
    assert counts.acknowledged + counts.refused + counts.gave_up == counts.attempted
    assert (counts.lost, counts.unexpected, counts.twins) == (0, 0, 0)
    assert counts.duplicated <= stack.in_flight_at_faults
