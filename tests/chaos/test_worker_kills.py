"""Scenario 1: kill -9 of workers, again and again, under load."""

from __future__ import annotations

from tests.chaos.conftest import MakeStack

KILLS = 3
OPS = 2 * 300


async def test_kill_9_of_workers_under_load_loses_nothing(make_stack: MakeStack) -> None:
    stack = await make_stack(seed=101)
    await stack.start_ingest()
    await stack.start_workers(3)
    for name in ("p0", "p1"):
        stack.start_producer(name, count=OPS // 2, concurrency=4)
    for kill in range(1, KILLS + 1):
        # Each kill lands while work flows: after another share of the jobs completed.
        await stack.wait_done(kill * OPS // (KILLS + 2))
        held = await stack.kill_worker()
        print(f"kill {kill}: the killed worker held {held} jobs")
    counts = await stack.drain_and_count()
    assert counts.acknowledged == counts.attempted == OPS
    assert (counts.lost, counts.unexpected, counts.twins) == (0, 0, 0)
    # Only the jobs a killed worker held can run twice: those running or finished but not yet
    # acked. The harness counted them right after each kill.
    assert counts.duplicated <= stack.in_flight_at_faults
