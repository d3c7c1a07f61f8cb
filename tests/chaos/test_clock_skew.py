"""Scenario: workers whose clocks are 20 s off, under load, with a 4 s heartbeat grace.

Three workers take from one queue: one on the host's clock, one 20 s ahead, one 20 s behind,
five times the grace either way. A skewed worker runs with libfaketime preloaded exactly as
Debian's `faketime -m --exclude-monotonic -f "+20s"` sets it up (tests/faketime.py): its wall clock
is off, its monotonic clock is right, as on a host whose clock is wrong. (The `faketime`
command itself stays as the worker's parent and does not pass signals on, so the harness could
neither stop the worker cleanly nor kill it; the worker is started with the variables
`faketime` gives the programs it runs.)

Heartbeats are stamped and judged by Redis's clock (beat.lua, reapable.lua): a worker's own
clock must play no part in whether it looks alive. Were beats stamped by the worker, the one
behind would look 20 s silent at every beat and be reaped again and again, and the one ahead
could never be reaped.

Asserted: lost 0, unexpected 0, duplicated 0, no key with two ids, nobody reaped (`recovered`
0, no reap logged), `fbq check` clean (drain_and_count), each skewed worker completed jobs,
and the skew really was in those processes: their journals (stamped by their own clocks)
show what a right clock cannot, the one ahead writing after the test's "now", the one behind
starting a job before its producer submitted it.

No job fails here, so backoff is not exercised here (tests/test_redis_time.py runs a client an
hour off through delays, backoffs and idempotency expiry). The second test sets a global rate
limit, which every worker's take judges: by Redis's clock too, so all three share the work.
"""

from __future__ import annotations

import re
import time

from tests.chaos.conftest import MakeStack
from tests.chaos.harness import Service, Stack
from tests.chaos.journal import ATTEMPT, DONE, START, Event
from tests.faketime import faketime_env

SKEW = 20.0
OPS = 2 * 400
# Per producer: the load lasts about 10 s, some graces, so that a worker judged by its own
# clock would be reaped within the run.
RATE = 40.0
RATE_LIMITED_OPS = 2 * 150
REAPED = re.compile(r"returned \d+ jobs of silent workers")


def skewed(offset: str) -> dict[str, str]:
    """What `faketime -m --exclude-monotonic -f OFFSET` sets up (tests/faketime.py)."""
    return faketime_env(offset, threads=True, monotonic=False)


async def start_skewed_workers(stack: Stack, **env: str) -> tuple[Service, Service, Service]:
    right = await stack.start_worker(**env)
    ahead = await stack.start_worker(**env, **skewed(f"+{SKEW:g}s"))
    behind = await stack.start_worker(**env, **skewed(f"-{SKEW:g}s"))
    return right, ahead, behind


def done_by(events: list[Event], worker: Service) -> int:
    return sum(1 for e in events if e.kind == DONE and e.pid == worker.pid)


async def test_workers_20s_off_are_neither_reaped_nor_run_twice(make_stack: MakeStack) -> None:
    stack = await make_stack(seed=707, worker_env={"FBQ_HEARTBEAT_GRACE": "4s"})
    await stack.start_ingest()
    right, ahead, behind = await start_skewed_workers(stack)
    for name in ("p0", "p1"):
        stack.start_producer(name, count=OPS // 2, concurrency=4, rate=RATE)
    counts = await stack.drain_and_count(label="clock-skew")
    read_at = time.time()
    events = stack.events()
    stats = await stack.stats()

    assert counts.acknowledged == counts.attempted == OPS
    assert (counts.lost, counts.unexpected, counts.duplicated, counts.twins) == (0, 0, 0, 0)
    reaps = [w.name for w in stack.workers if REAPED.search(w.output())]
    assert (stats.recovered_total, reaps) == (0, []), "a live worker was reaped"
    ran = {w.name: done_by(events, w) for w in (right, ahead, behind)}
    print(f"jobs completed by the worker on the right clock, +{SKEW:g}s and -{SKEW:g}s: {ran}")
    assert ran[ahead.name] > 0, f"the worker ahead ran nothing: {ran}"
    assert ran[behind.name] > 0, f"the worker behind ran nothing: {ran}"
    # The skew was real: the worker ahead journaled "later" than the test's now, after the
    # fact; the one behind started jobs "before" their producers first tried to submit them.
    assert max(e.time for e in events if e.pid == ahead.pid) > read_at
    attempted = {e.key: e.time for e in events if e.kind == ATTEMPT}
    assert any(e.time < attempted[e.key] for e in events if e.kind == START and e.pid == behind.pid)


async def test_rate_limited_fleet_shares_work_with_workers_20s_off(make_stack: MakeStack) -> None:
    # A limit far above what the fleet can run: only the clocks can make a worker wait.
    stack = await make_stack(
        seed=717, worker_env={"FBQ_HEARTBEAT_GRACE": "4s", "FBQ_RATE_LIMIT": "1000/s"}
    )
    await stack.start_ingest()
    right, ahead, behind = await start_skewed_workers(stack)
    for name in ("p0", "p1"):
        stack.start_producer(name, count=RATE_LIMITED_OPS // 2, concurrency=4, rate=RATE)
    counts = await stack.drain_and_count(label="clock-skew-rate-limit")
    events = stack.events()
    assert counts.acknowledged == counts.attempted == RATE_LIMITED_OPS
    assert (counts.lost, counts.unexpected, counts.duplicated, counts.twins) == (0, 0, 0, 0)
    ran = {w.name: done_by(events, w) for w in (right, ahead, behind)}
    print(f"rate-limited: jobs completed by the right, +{SKEW:g}s and -{SKEW:g}s workers: {ran}")
    # Three idle workers wait on BLMOVE in turn: each gets about a third of the jobs.
    assert min(ran.values()) >= RATE_LIMITED_OPS // 10, f"a worker was starved: {ran}"
