"""Worker drain throughput: one worker process, beside the naive reliable-queue baseline.

    .venv/bin/python benchmarks/worker_throughput.py --jobs 20000

Starts its own redis-server (AOF on, appendfsync everysec). For each case it pauses the queue,
fills it, starts `python -m worker_service` (one process), waits for its readiness, resumes the
queue and times the drain from the first job taken until every job is COMPLETED. The last two
cases drain the same jobs spread over 1,000 fairness keys and, the baseline, with one shared key
(FBQ_FAIRNESS_KEY=none: first in, first out). Each case
starts from an empty Redis (the previous cases' 20,000 completed records would otherwise weigh
on the next). The baseline
is raw redis-py draining the same number of ids with one LMOVE + one LREM per job, measured in
the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.common import payload_submission, timed_drain
from feedback_queue.connection import create_client
from feedback_queue.fairness import Fairness
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port

# name, processor, concurrency, fairness keys (0: FBQ_FAIRNESS_KEY=none, one shared key)
CASES = [
    ("no-op, concurrency 1", "noop", 1, 1),
    ("no-op, concurrency 16", "noop", 16, 1),
    ("no-op, concurrency 64", "noop", 64, 1),
    ("10 ms await, concurrency 64", "wait_10ms", 64, 1),
    ("no-op, 64, FIFO (one shared key)", "noop", 64, 0),
    ("no-op, 64, fair over 1,000 keys", "noop", 64, 1000),
    ("10 ms await, 64, fair over 1,000 keys", "wait_10ms", 64, 1000),
]
FIFO, FAIR = "no-op, 64, FIFO (one shared key)", "no-op, 64, fair over 1,000 keys"


async def naive_baseline(client: Redis, jobs: int) -> float:
    payload = payload_submission().SerializeToString()
    for start in range(0, jobs, 1000):
        await client.lpush("naive:waiting", *[payload] * min(1000, jobs - start))
    started = time.perf_counter()
    while True:
        item = await client.lmove("naive:waiting", "naive:processing", "RIGHT", "LEFT")
        if item is None:
            break
        await client.lrem("naive:processing", 1, item)  # type: ignore[arg-type]  # bytes reply
    return jobs / (time.perf_counter() - started)


async def drain(
    redis_port: int, client: Redis, processor: str, slots: int, keys: int, jobs: int
) -> float:
    fairness = Fairness(source="none" if keys == 0 else "submitter_id")
    config = QueueConfig(name=f"bench-{processor}-{slots}-{keys}", fairness=fairness)
    queue = Queue(client, config)
    await queue.pause()
    subs = [payload_submission() for _ in range(max(keys, 1))]
    for i, sub in enumerate(subs):
        sub.submitter_id = f"key-{i:05d}"  # every payload the same size
    batch = [(subs[i % len(subs)], 0.0) for i in range(jobs)]
    for start in range(0, jobs, 10_000):
        await queue.enqueue_many(batch[start : start + 10_000])
    health = free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "FBQ_QUEUE": queue.name,
        "FBQ_PROCESSOR": f"benchmarks.processors:{processor}",
        "FBQ_CONCURRENCY": str(slots),
        "FBQ_WORKER_HEALTH_PORT": str(health),
        "FBQ_LOG_LEVEL": "WARNING",
    }
    return await timed_drain(queue, jobs, env)


async def main(jobs: int) -> None:
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as server:
        client = create_client(RedisSettings(host="127.0.0.1", port=server.port))
        naive = await naive_baseline(client, jobs)
        results = {}
        for name, processor, slots, keys in CASES:
            await client.flushdb()  # every case starts from an empty server, like the first
            count = jobs if slots > 1 else max(jobs // 10, 1000)
            results[name] = await drain(server.port, client, processor, slots, keys, count)
        await client.aclose()
    print(f"one worker process draining {jobs} jobs (concurrency 1: {max(jobs // 10, 1000)})")
    print(f"\n{'measure':40} {'jobs/s':>10}  ratio")
    print(f"{'naive LMOVE + LREM, raw redis-py':40} {naive:10,.0f}  1.00x")
    for name, value in results.items():
        print(f"{name:40} {value:10,.0f}  {value / naive:.2f}x naive")
    ideal = 64 / 0.010
    waited = results["10 ms await, concurrency 64"]
    print(
        f"\nno-op at 16 = {results['no-op, concurrency 16'] / naive:.2f}x naive (target >= 3x); "
        f"10 ms at 64 = {waited / ideal:.0%} of the ideal {ideal:,.0f}/s (target >= 80%); "
        f"fair over 1,000 keys = {results[FAIR] / results[FIFO]:.2f}x FIFO (target >= 0.8)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per case")
    asyncio.run(main(parser.parse_args().jobs))
