"""Cancels mixed into the chaos: by id while jobs wait, back off and run, and by fairness key,
through a worker's kill -9 and Redis's.

What must hold (docs/cancelling.md, docs/guarantees.md), counted the Jepsen way: nothing
acknowledged is lost (a job ends COMPLETED, or CANCELLED because someone cancelled it), nothing
unexpected completes, a cancel answered OK is never followed by COMPLETED, no attempt starts
after its job's cancel, and nothing nobody cancelled ends CANCELLED.
"""

from __future__ import annotations

import asyncio

from tests.chaos.conftest import MakeStack

OPS = 2 * 300
WORKERS = 3


async def test_cancels_through_worker_and_redis_kills_complete_nothing_cancelled(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(
        seed=707,
        appendfsync="always",  # the Redis kill loses no acknowledged write: the counts are exact
        worker_env={
            "FBQ_CHAOS_SLEEP": "0.05",  # jobs run long enough to be cancelled while ACTIVE
            "FBQ_CHAOS_FAIL_ONCE": "20",  # and some back off into DELAYED first
            "FBQ_CANCEL_CHECK": "200ms",
            "FBQ_CANCEL_GRACE": "300ms",
        },
    )
    await stack.start_ingest()
    await stack.start_workers(WORKERS)
    for name in ("p0", "p1"):
        stack.start_producer(name, count=OPS // 2, concurrency=4)
    stop = asyncio.Event()
    canceller = asyncio.create_task(stack.cancel_while_running(stop, every=0.03))
    await stack.wait_acked(OPS // 4)
    held = await stack.kill_worker()
    print(f"the killed worker held {held} jobs")
    await stack.wait_acked(OPS // 2)
    by_key = await stack.cancel_key("tenant-3")
    print(f"the filter cancelled {by_key} jobs of tenant-3")
    await stack.wait_acked(3 * OPS // 4)
    stack.kill_redis(in_flight=WORKERS * int(stack.worker_env["FBQ_CONCURRENCY"]))
    await asyncio.sleep(0.5)  # Redis is away: producers, workers and the canceller retry
    stack.restart_redis()
    await stack.wait_producers()
    stop.set()
    await canceller
    counts = await stack.drain_and_count(label="cancels")
    cancels = stack.cancels
    assert cancels is not None
    assert counts.acknowledged == counts.attempted == OPS
    assert (counts.lost, counts.unexpected, counts.twins) == (0, 0, 0)
    assert (cancels.completed_after_cancel, cancels.started_after_cancel, cancels.uncalled) == (
        0,
        0,
        0,
    )
    # The cancels did happen, before and after jobs started, and the filter's are in the books.
    assert cancels.asked >= 20
    assert counts.cancelled == cancels.cancelled >= max(cancels.asked, by_key)
    assert cancels.never_started > 0
    assert cancels.once_started > 0
    assert counts.duplicated <= stack.in_flight_at_faults
