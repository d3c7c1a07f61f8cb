"""Scenario 9: Redis answers BUSY (a runaway script) while failures wait to be written.

A long read-only script runs in Redis past `busy-reply-threshold`: every other command is
answered BUSY until it ends or someone sends SCRIPT KILL. BUSY is a refusal before anything
runs, so it is transient trouble like an outage: ingest answers UNAVAILABLE (the producers
retry with their keys), the workers retry their takes, acks and failures, their readiness
says NOT_SERVING while it lasts, and their liveness stays SERVING (a restart would not help).

The processor fails some keys on purpose (processor.py `fate`): some for good (FAILED at once),
some on their first attempt only (retried with backoff, then completed). A sentinel job that
fails for good is running when BUSY begins; it waits at a gate that the test opens only once
Redis answers BUSY, so its failure is journaled while BUSY lasts and a worker holds it unwritten
until SCRIPT KILL. Then every failure must be written as decided, nothing lost or run twice (no
worker died or froze: the bound is 0), and `fbq check` clean.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.exceptions as rex
from redis.asyncio import Redis

from feedback_queue.v1 import queue_pb2 as pb
from tests.chaos.conftest import MakeStack
from tests.chaos.harness import NOT_SERVING, SERVING, Stack
from tests.chaos.journal import ACK, DONE, FAIL, START
from tests.chaos.processor import ONCE, PERMANENT, fate

WORKERS, CONCURRENCY = 2, 4
OPS, RATE = 2 * 300, 60.0  # paced: load runs before, through and after the BUSY spell
PERMANENT_PCT, ONCE_PCT = 8, 12
SENTINEL = "busy-sentinel"
# Runs until SCRIPT KILL; no writes, so SCRIPT KILL may end it.
RUNAWAY = "while true do end"
THRESHOLD_MS = 100


async def busy(client: Redis) -> bool:
    """Whether Redis answers BUSY now."""
    try:
        await client.ping()
    except rex.ResponseError as exc:
        if str(exc).startswith("BUSY"):
            return True
        raise
    return False


async def runaway(client: Redis) -> object:
    """Run the runaway script; it answers only once killed (an error)."""
    return await client.eval(RUNAWAY, 0)


async def test_redis_busy_while_failures_are_pending_writes_them_after(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    stack = await make_stack(
        seed=909,
        redis_args=("--busy-reply-threshold", str(THRESHOLD_MS)),
        worker_env={
            "FBQ_CONCURRENCY": str(CONCURRENCY),
            # No worker dies here: the default grace, so that nobody is reaped.
            "FBQ_HEARTBEAT_GRACE": "15s",
            "FBQ_CHAOS_FAIL_PERMANENT": str(PERMANENT_PCT),
            "FBQ_CHAOS_FAIL_ONCE": str(ONCE_PCT),
        },
    )
    await stack.start_ingest()
    workers = await stack.start_workers(WORKERS)
    liveness: list[list[int]] = [[] for _ in workers]
    watches = [
        asyncio.create_task(w.watch_health("liveness", seen))
        for w, seen in zip(workers, liveness, strict=True)
    ]
    for name in ("p0", "p1"):
        stack.start_producer(name, count=OPS // 2, concurrency=4, rate=RATE / 2)
    await stack.wait_done(OPS // 4)

    # The sentinel is running when the runaway script starts; it fails for good once the
    # test opens its gate, while Redis answers BUSY.
    sentinel = await stack.submit(
        pb.Submission(
            submitter_id="chaos",
            content="Sentinel.",
            metadata={"gate": str(gate), "fail": PERMANENT},
        ),
        SENTINEL,
    )
    await stack.wait_until(
        "the sentinel started", lambda ev: any(e.kind == START and e.key == SENTINEL for e in ev)
    )
    control = stack.redis_client()
    await control.ping()  # connected before BUSY: only a few commands get through it
    runner = stack.redis_client(socket_timeout=None)  # its reply comes at SCRIPT KILL
    await runner.ping()
    script = asyncio.create_task(runaway(runner))
    deadline = time.monotonic() + 30
    while not await busy(control):
        assert time.monotonic() < deadline, "Redis never answered BUSY"
        assert not script.done(), script
        await asyncio.sleep(0.02)
    assert all(p.alive for p in stack.producers), "BUSY under load"
    failed_before = {e.key for e in stack.events() if e.kind == FAIL}
    gate.touch()

    # BUSY lasts until the sentinel's failure is pending and every worker says not ready.
    await stack.wait_until(
        "the sentinel failed during BUSY",
        lambda ev: any(e.kind == FAIL and e.key == SENTINEL for e in ev),
        timeout=30,
    )
    for worker in workers:
        await worker.await_health("readiness", NOT_SERVING)
    assert await busy(control), "still BUSY: the sentinel's failure could not be written"
    # Failures that could not have been written yet: journaled while Redis answered BUSY.
    pending = {e.key for e in stack.events() if e.kind == FAIL} - failed_before
    await control.script_kill()
    with pytest.raises(rex.ResponseError, match="killed"):
        await script
    await control.aclose()
    await runner.aclose()

    for worker in workers:
        await worker.await_health("readiness", SERVING)
        assert await worker.health("liveness") == SERVING
    for watch in watches:
        watch.cancel()  # before the drain: a worker shutting down is NOT_SERVING on purpose
    await asyncio.gather(*watches, return_exceptions=True)
    print(f"busy: {len(pending)} failures journaled while Redis answered BUSY")
    assert SENTINEL in pending
    await stack.wait_producers()  # every key acknowledged: the permanent ones are known
    counts = await stack.drain_and_count(
        expected_failed=_permanent(stack) | {SENTINEL}, label="redis-busy"
    )

    assert stack.drained
    assert counts.acknowledged == counts.attempted == OPS + 1
    # No worker died, froze or was reaped: nothing may run twice.
    assert (counts.lost, counts.unexpected, counts.duplicated, counts.twins) == (0, 0, 0, 0)
    assert stack.error_codes() <= {"UNAVAILABLE"}
    # Every failure written as the processor decided: permanent ones dead-lettered after one
    # attempt, first-attempt ones retried once and then completed, the rest completed at once.
    acked = stack.keys(ACK)
    permanent = _permanent(stack) | {SENTINEL}
    once = {k for k in acked if fate(k, PERMANENT_PCT, ONCE_PCT) == ONCE}
    assert permanent - {SENTINEL}, "the seed gives keys that fail for good"
    assert once, "the seed gives keys that fail once"
    runs: dict[str, list[str]] = {}
    for e in stack.events():
        if e.kind in (START, DONE, FAIL):
            runs.setdefault(e.key, []).append(e.kind)
    assert {k for k, r in runs.items() if r == [START, FAIL]} == permanent
    assert {k for k, r in runs.items() if r == [START, FAIL, START, DONE]} == once
    assert {k for k, r in runs.items() if r == [START, DONE]} == acked - permanent - once
    stats = await stack.stats()
    assert (stats.failed, stats.failed_total) == (len(permanent), len(permanent))
    assert stats.retried_total == len(once)
    assert stats.completed == len(acked) - len(permanent)
    info = await stack.submissions.GetSubmission(pb.GetSubmissionRequest(id=sentinel.id))
    assert (info.status, info.attempts) == (pb.FAILED, 1)
    assert "fails for good" in info.last_error
    assert await stack.stat("stale_outcomes") == 0
    assert await stack.stat("recovered") == 0
    # Liveness stayed SERVING all along (BUSY is transient: no restart wanted).
    for worker, seen in zip(workers, liveness, strict=True):
        assert seen, f"{worker.name}: no liveness status seen"
        assert set(seen) == {SERVING}, f"{worker.name}: liveness went {seen}"
        assert "busy" in worker.output(), f"{worker.name} never met BUSY"


def _permanent(stack: Stack) -> set[str]:
    return {k for k in stack.keys(ACK) if fate(k, PERMANENT_PCT, ONCE_PCT) == PERMANENT}
