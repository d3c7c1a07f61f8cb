"""Core queue throughput and memory against one local Redis, beside raw redis-py baselines.

    python3 dev.py bench    (or .venv/bin/python benchmarks/core_throughput.py --jobs 20000)

Starts its own redis-server (AOF on, appendfsync everysec, as the embedded default runs), then
measures, one after another on the same server and the same kind of client:
  - enqueue: one at a time (one script call each) and enqueue_many (chunks of 256)
  - drain through take + ack with a no-op processor: one job at a time (a round trip pair
    per job, as an idle worker meets work) and the backlog path (take script + batched ack)
  - Redis bytes per queued job with a 200-byte payload (the serialized Submission), on a fresh
    server of the same binary without AOF (used_memory also counts AOF buffers)
  - baselines with raw redis-py: single LPUSH, pipelined LPUSH, and the naive reliable-queue
    drain of one LMOVE + one LREM per job
Figures are jobs/s; ratios compare with the baselines measured in this same run.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.common import PAYLOAD_BYTES, payload_submission, rate
from feedback_queue.connection import create_client
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, find_server_binary


async def used_memory(client: Redis) -> int:
    info = await client.info("memory")
    return int(info["used_memory"])


async def bench_core(client: Redis, jobs: int) -> dict[str, float]:
    sub = payload_submission()
    results: dict[str, float] = {}

    def fresh(name: str) -> Queue:
        # Each case its own queue on the benchmark's own fresh server.
        return Queue(client, QueueConfig(name=name))

    single = fresh("bench-single")

    async def enqueue_single() -> None:
        for _ in range(jobs):
            await single.enqueue(sub)

    results["enqueue, one at a time"] = await rate(jobs, enqueue_single)

    many = fresh("bench-many")
    batch = [(sub, 0.0)] * jobs
    results["enqueue_many"] = await rate(jobs, lambda: many.enqueue_many(batch))

    async def drain_idle() -> None:
        for _ in range(jobs):
            [job] = (await single.take("bench-worker", 1)).jobs
            await single.ack("bench-worker", [(job.id, job.token, "")])

    results["drain, one at a time (take 1 + ack)"] = await rate(jobs, drain_idle)

    async def drain_backlog(queue: Queue, count: int) -> None:
        while True:
            taken = (await queue.take("bench-worker", count)).jobs
            if not taken:
                return
            await queue.ack("bench-worker", [(job.id, job.token, "") for job in taken])

    results["drain, backlog path (take 100 + ack)"] = await rate(
        jobs, lambda: drain_backlog(many, 100)
    )
    again = fresh("bench-many-2")
    await again.enqueue_many(batch)
    results["drain, backlog path (take 500 + ack)"] = await rate(
        jobs, lambda: drain_backlog(again, 500)
    )
    return results


async def bench_memory(jobs: int) -> dict[str, float]:
    """Bytes per queued job, and per raw LPUSHed payload, on a fresh server without AOF.

    used_memory counts the AOF buffers too, so on the busy AOF server the figure would move with
    rewrites; persistence does not change what a job costs in memory.
    """
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedRedis(Path(folder), appendonly=False, extra_args=("--save", "")) as server,
    ):
        client = create_client(RedisSettings(host="127.0.0.1", port=server.port))
        before = await used_memory(client)
        await Queue(client).enqueue_many([(payload_submission(), 0.0)] * jobs)
        per_job = (await used_memory(client) - before) / jobs
        await client.flushdb()
        payload = payload_submission().SerializeToString()
        before = await used_memory(client)
        for start in range(0, jobs, 1000):
            await client.lpush("raw:memory", *[payload] * min(1000, jobs - start))
        per_payload = (await used_memory(client) - before) / jobs
        await client.aclose()
    return {"bytes per queued job": per_job, "raw LPUSH bytes per payload": per_payload}


async def bench_raw(client: Redis, jobs: int) -> dict[str, float]:
    payload = payload_submission().SerializeToString()
    results: dict[str, float] = {}

    async def lpush_single() -> None:
        for _ in range(jobs):
            await client.lpush("raw:waiting", payload)

    results["raw LPUSH, one at a time"] = await rate(jobs, lpush_single)

    async def lpush_pipelined() -> None:
        for start in range(0, jobs, 256):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(256, jobs - start)):
                pipe.lpush("raw:waiting2", payload)
            await pipe.execute()

    results["raw LPUSH, pipelined"] = await rate(jobs, lpush_pipelined)

    async def naive_drain() -> None:
        while True:
            item = await client.lmove("raw:waiting", "raw:processing", "RIGHT", "LEFT")
            if item is None:
                return
            await client.lrem("raw:processing", 1, item)  # type: ignore[arg-type]  # bytes reply

    results["raw LMOVE + LREM, one job at a time"] = await rate(jobs, naive_drain)
    return results


async def main(jobs: int) -> None:
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as server:
        client = create_client(RedisSettings(host="127.0.0.1", port=server.port))
        info = await client.info("server")
        print(
            f"redis {info['redis_version']} ({find_server_binary()}), python "
            f"{platform.python_version()}, {jobs} jobs of {PAYLOAD_BYTES}-byte payload, "
            f"AOF everysec"
        )
        raw = await bench_raw(client, jobs)
        core = await bench_core(client, jobs)
        await client.aclose()
    memory = await bench_memory(jobs)

    naive = raw["raw LMOVE + LREM, one job at a time"]
    single = raw["raw LPUSH, one at a time"]
    print(f"\n{'measure':44} {'value':>12}  ratio")
    for name, value in raw.items():
        if "bytes" not in name:
            print(f"{name:44} {value:10,.0f}/s")
    for name, value in core.items():
        if name.startswith("enqueue"):
            print(f"{name:44} {value:10,.0f}/s  {value / single:.2f}x raw single LPUSH")
        elif name.startswith("drain"):
            print(f"{name:44} {value:10,.0f}/s  {value / naive:.2f}x naive LMOVE+LREM")
    per_job = memory["bytes per queued job"]
    print(f"{'bytes per queued job':44} {per_job:10,.0f} B   (target <= 350)")
    raw_payload = memory["raw LPUSH bytes per payload"]
    print(f"{'raw LPUSH bytes per 200-byte payload':44} {raw_payload:10,.0f} B")
    backlog = core["drain, backlog path (take 100 + ack)"]
    print(
        f"\nbacklog drain / naive = {backlog / naive:.2f}x (target >= 3x); "
        f"bytes per queued job = {per_job:.0f} (target <= 350)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per measurement")
    asyncio.run(main(parser.parse_args().jobs))
