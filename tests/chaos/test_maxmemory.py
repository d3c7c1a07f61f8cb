"""Scenario 6: Redis at maxmemory, with `noeviction` and with `volatile-lru`.

Ingest answers RESOURCE_EXHAUSTED, never OK for a write Redis refused; the producers retry with
their keys; once memory is freed the queue takes work again, and nothing acknowledged was lost
or evicted (the count's lost = 0: every acknowledged submission was still there to be run).

Memory comes back the way an operator would expect for each policy: with `volatile-lru`, Redis
evicts only keys with a TTL, and the only data keys with one are COMPLETED records, so workers
completing the backlog make room by themselves; with `noeviction` nothing is ever evicted, so
completed records must expire (a short FBQ_RETENTION here) before room comes back.
"""

from __future__ import annotations

import pytest

from feedback_queue.v1 import queue_pb2 as pb
from tests.chaos.conftest import MakeStack
from tests.chaos.harness import WORKER_DEFAULTS, SingleRedis
from tests.chaos.journal import ERROR

OPS = 2 * 700


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru"])
async def test_redis_at_maxmemory_refuses_then_recovers(make_stack: MakeStack, policy: str) -> None:
    stack = await make_stack(
        seed=606,
        redis_args=("--maxmemory", "4mb", "--maxmemory-policy", policy),
        worker_env={"FBQ_RETENTION": "1s" if policy == "noeviction" else "7d"},
    )
    await stack.start_ingest()
    # Workers start before Redis is full (a worker that cannot register exits at start, naming
    # the cause, as DESIGN §5 asks), and wait on a paused queue while the backlog grows.
    await stack.admin.PauseQueue(pb.PauseQueueRequest())
    await stack.start_workers(2)
    for name in ("p0", "p1"):
        stack.start_producer(name, count=OPS // 2, concurrency=4, content_bytes=2000)
    # Nothing is taken: the backlog grows until Redis is full and ingest refuses.
    await stack.wait_until(
        "a submit refused for memory",
        lambda events: any(e.kind == ERROR and e.id == "RESOURCE_EXHAUSTED" for e in events),
    )
    stats = await stack.stats()
    acked_when_full = len(stack.keys("ack"))
    print(f"{policy}: full at {stats.waiting} waiting, {acked_when_full} acknowledged")
    assert stats.waiting > 0
    await stack.admin.ResumeQueue(pb.ResumeQueueRequest())  # a delete: allowed when full
    counts = await stack.drain_and_count(label=f"maxmemory-{policy}")
    assert counts.acknowledged == counts.attempted == OPS
    assert (counts.lost, counts.unexpected, counts.twins) == (0, 0, 0)
    # With noeviction a full Redis refuses the workers' writes too (acks, heartbeats): a worker
    # whose heartbeat went stale is reaped, and its running jobs run again elsewhere. At most
    # the jobs two workers hold at once.
    assert counts.duplicated <= 2 * int(WORKER_DEFAULTS["FBQ_CONCURRENCY"])
    assert stack.error_codes() == {"RESOURCE_EXHAUSTED"}
    assert isinstance(stack.redis, SingleRedis)
    client = stack.redis.client()
    evicted = (await client.info("stats"))["evicted_keys"]
    await client.aclose()
    # Under volatile-lru Redis made room by evicting keys with a TTL: COMPLETED records only.
    print(f"{policy}: Redis evicted {evicted} keys")
