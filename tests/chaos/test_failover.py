"""Scenario: a Sentinel failover that outlasts the heartbeat grace, under load.

A master (AOF `appendfsync always`), one replica and three sentinels (quorum 2) on loopback;
ingest and two workers find the master through the sentinels. Two producers submit with
idempotency keys and retry through the outage. Midway the master is killed with -9. The
sentinels call it down only after `down-after-milliseconds` (5 s) of silence, longer than the
workers' grace (4 s), then promote the replica; the old master comes back as the new one's
replica. So when the new master first hears from the fleet, every heartbeat it holds is older
than the grace, though no worker died.

What is asserted, and why:
- lost = 0. Ingest runs with FBQ_MIN_REPLICAS_ACK=1: Submit answers OK only after Redis `WAIT`
  saw the replica take the submission, so the promoted replica has every acknowledged one.
  Without it, replication is asynchronous and a submission acknowledged in the instant before
  the kill may be lost (tests/scaleout/test_sentinel.py reports how many).
- unexpected = 0.
- No live worker is reaped: the queue's `recovered` counter stays 0 and no worker logs a reap.
  The first beat on the new master finds the fleet silent for longer than half the grace and
  calls a calm of one grace (lib/watch.lua), within which every worker beats again.
- No job runs a second attempt: every start journaled is attempt 1. A job run again because
  its worker was reaped, or because its ack was refused as stale, would be attempt 2.
- duplicated <= the jobs the workers held at the kill (ACTIVE, read just before it) plus one
  take per worker (CONCURRENCY jobs). Only submits wait for the replica: a take or an ack that
  the old master answered in the instant before the kill, but had not yet sent to its replica,
  is undone by the failover, and that job runs again under the same attempt number (an undone
  take leaves the attempt count as it was; a worker that finds an undone ack's job back in its
  list after the outage hands it back, which gives the attempt back). The window is a few
  microseconds wide, so the count is almost always 0; it is reported.
- twins <= duplicated: a key gets a second id only if the failover undid its enqueue (not yet
  acknowledged: WAIT had not answered) after a worker had taken it, which is a duplicate start.
- The premise: the newest beat the promoted replica held was older than the grace when the
  first beat after the failover came (from the calm that beat called). down-after-milliseconds
  (5 s) is longer than the grace (4 s): the sentinels cannot even call the master down sooner.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from feedback_queue.keys import Keys
from tests.chaos.harness import WORKER_DEFAULTS, Stack
from tests.chaos.journal import START
from tests.chaos.sentinel import SentinelRedis

GRACE = 4.0
# The sentinels' down-after-milliseconds: a failover cannot complete sooner.
DOWN_AFTER = 5.0
WORKERS = 2
CONCURRENCY = int(WORKER_DEFAULTS["FBQ_CONCURRENCY"])
OPS = 2 * 400
QUEUE = "chaos"
REAPED = re.compile(r"returned \d+ jobs of silent workers")


@pytest.fixture
async def stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    redis = await SentinelRedis.start(tmp_path / "redis", down_after=DOWN_AFTER)
    stack = Stack(
        redis,
        tmp_path,
        seed=505,
        queue=QUEUE,
        worker_env={"FBQ_HEARTBEAT_GRACE": f"{GRACE:g}s"},
        ingest_env={"FBQ_MIN_REPLICAS_ACK": "1"},
        name=request.node.name,
    )
    yield stack
    await stack.close()


async def test_failover_longer_than_the_grace_loses_nothing_and_reaps_nobody(
    stack: Stack,
) -> None:
    redis = stack.redis
    assert isinstance(redis, SentinelRedis)
    keys = Keys(QUEUE)
    await stack.start_ingest()
    await stack.start_workers(WORKERS)
    for name in ("p0", "p1"):
        stack.start_producer(name, count=OPS // 2, concurrency=6)
    await stack.wait_acked(OPS // 3)

    old_master = redis.master_port()
    replica = next(s.port for s in redis.servers if s.port != old_master)
    switch = await redis.watch_switch()
    # What the workers hold (running, or finished and not yet acked), read just before the kill.
    held = (await stack.stats()).active
    stack.kill_redis(in_flight=held + WORKERS * CONCURRENCY)
    # The replica is frozen at the kill until it is promoted: the last beat it received.
    last_beat = await latest_beat(redis, replica, keys)
    new_master = await switch.done()
    assert new_master == replica != old_master
    redis.restart()
    await redis.replica_in_sync()  # submits can be acknowledged again (WAIT 1)

    counts = await stack.drain_and_count(label="sentinel-failover")
    stats = await stack.stats()
    calm = await calm_called(redis, new_master, keys)
    silence = (calm - GRACE * 1000 - last_beat) / 1000 if calm else None
    print(
        f"failover: master {old_master} -> {new_master}; {held} jobs held at the kill; the "
        "fleet's silence as the first beat after it found: "
        + ("no calm called" if silence is None else f"{silence:.1f}s of Redis time")
    )
    starts = [e for e in stack.events() if e.kind == START]
    reaps = [w.name for w in stack.workers if REAPED.search(w.output())]
    assert counts.acknowledged == counts.attempted == OPS
    assert (counts.lost, counts.unexpected) == (0, 0)
    assert (stats.recovered_total, reaps) == (0, []), "a live worker was reaped"
    assert {e.n for e in starts} == {1}, "a job ran a second attempt"
    assert counts.duplicated <= stack.in_flight_at_faults
    assert counts.twins <= counts.duplicated
    assert stack.error_codes() <= {"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN"}
    # The premise: when the new master first heard from the fleet, the newest beat it held was
    # older than the grace. That beat called the calm (one grace from then, lib/watch.lua); a
    # later gap could only have moved the calm later still, and none is expected.
    assert silence is not None, "no calm was called after the failover"
    assert silence > GRACE, "the fleet's silence was not longer than the grace"


async def latest_beat(redis: SentinelRedis, port: int, keys: Keys) -> float:
    """The newest heartbeat (ms, Redis time) the server at `port` holds."""
    client = redis.client(port)
    try:
        newest = await client.zrange(keys.workers, -1, -1, withscores=True)
    finally:
        await client.aclose()
    assert newest, "the replica holds no heartbeat"
    return float(newest[0][1])


async def calm_called(redis: SentinelRedis, port: int, keys: Keys) -> float | None:
    """The end (ms, Redis time) of the latest calm, if one was called."""
    client = redis.client(port)
    try:
        calm = await client.hget(keys.reaper, "calm")
    finally:
        await client.aclose()
    return float(calm) if calm is not None else None
