"""Scenario 2: kill -9 of the ingest service mid-stream; producers retry with their keys, by
hand or through feedback_queue.client."""

from __future__ import annotations

import pytest

from tests.chaos.conftest import MakeStack

KILLS = 3
OPS = 3 * 250


async def test_kill_9_of_ingest_mid_stream_neither_loses_nor_doubles(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(seed=202, worker_env={"FBQ_HEARTBEAT_GRACE": "15s"})
    await stack.start_ingest()
    await stack.start_workers(2)
    for name in ("p0", "p1", "p2"):
        stack.start_producer(name, count=OPS // 3, concurrency=8)
    for kill in range(1, KILLS + 1):
        await stack.wait_acked(kill * OPS // (KILLS + 2))
        await stack.kill_ingest()  # and start it again on the same port
    counts = await stack.drain_and_count()
    assert counts.acknowledged == counts.attempted == OPS
    assert (counts.lost, counts.unexpected) == (0, 0)
    # No worker died and every retry carried its idempotency key: nothing ran twice, and no key
    # ever named two jobs (a retry of a submit that had reached Redis answered duplicate=true).
    assert (counts.duplicated, counts.twins) == (0, 0)
    # Producers did see the kills, and only as statuses that mean "not acknowledged, retry".
    assert stack.error_codes()
    assert stack.error_codes() <= {"UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED", "UNKNOWN"}


@pytest.mark.parametrize("mode", ["submit", "many"])
async def test_kill_9_of_ingest_under_the_clients_retries_neither_loses_nor_doubles(
    make_stack: MakeStack, mode: str
) -> None:
    """Producers use feedback_queue.client (automatic batching with `submit`, SubmitBatch calls
    with `submit_many`), with keys the client made and no retry of their own: the client's
    retries alone carry every submission through three kills."""
    stack = await make_stack(seed=203, worker_env={"FBQ_HEARTBEAT_GRACE": "15s"})
    await stack.start_ingest()
    await stack.start_workers(2)
    for name in ("p0", "p1", "p2"):
        # Batches of 10 at 100 a second: the producers are still at work at every kill.
        stack.start_producer(name, count=OPS // 3, concurrency=8, client=mode, batch=10, rate=100)
    for kill in range(1, KILLS + 1):
        await stack.wait_acked(kill * OPS // (KILLS + 2))
        await stack.kill_ingest()
    counts = await stack.drain_and_count(label=f"{stack.name} client={mode}")
    assert counts.acknowledged == counts.attempted == OPS
    assert (counts.lost, counts.unexpected) == (0, 0)
    assert (counts.duplicated, counts.twins) == (0, 0)
    assert counts.refused == counts.gave_up == 0
    # The kills were seen, by the client's retries, and only as "not acknowledged, retry".
    assert stack.error_codes()
    assert stack.error_codes() <= {"UNAVAILABLE", "CANCELLED"}
