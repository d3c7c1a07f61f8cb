"""arq: `enqueue_job` (no bulk API); `run_worker` with max_jobs (default 10).

arq's worker polls the queue every `poll_delay` (0.5 s by default) when it finds nothing, which
is what the latency measure sees; nothing here changes that default.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib.metadata import version
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker as ArqWorker

from benchmarks.peers.common import (
    QUEUE,
    Worker,
    drain_run,
    emit,
    flush,
    latency_run,
    mark,
    memory_run_async,
    parser,
    payload,
    produce_paced_async,
    timed_async,
)

DEFAULT_MAX_JOBS = 10


async def job(ctx: dict[str, Any], body: str) -> None:
    mark(body)


async def enqueue(pool: ArqRedis, jobs: int) -> None:
    for _ in range(jobs):
        await pool.enqueue_job("job", payload(), _queue_name=QUEUE)


def worker(url: str, concurrency: int) -> Worker:
    argv = ["-m", "benchmarks.peers.arq_bench", "--redis", url, "worker"]
    return Worker([sys.executable, *argv, "--concurrency", str(concurrency)])


def run_worker(url: str, concurrency: int) -> None:
    settings = RedisSettings.from_dsn(url)
    arq_worker = ArqWorker(
        functions=[job],
        queue_name=QUEUE,
        redis_settings=settings,
        max_jobs=concurrency or DEFAULT_MAX_JOBS,
    )
    arq_worker.run()


async def measure(args: argparse.Namespace) -> None:
    flush(args.redis)
    pool = await create_pool(RedisSettings.from_dsn(args.redis))
    try:
        if args.command == "enqueue":
            emit(await timed_async(args.jobs, lambda: enqueue(pool, args.jobs)))
        elif args.command == "drain":
            await enqueue(pool, args.jobs)
            emit(
                await asyncio.to_thread(drain_run, worker(args.redis, args.concurrency), args.jobs)
            )
        elif args.command == "latency":
            await enqueue(pool, 1)

            async def submit(body: str) -> None:
                await pool.enqueue_job("job", body, _queue_name=QUEUE)

            def produce() -> int:
                return asyncio.run_coroutine_threadsafe(
                    produce_paced_async(args.rate, args.seconds, submit), loop
                ).result()

            loop = asyncio.get_running_loop()
            run = worker(args.redis, args.concurrency)
            emit(await asyncio.to_thread(latency_run, run, produce))
        elif args.command == "memory":
            emit(await memory_run_async(args.redis, args.jobs, lambda n: enqueue(pool, n)))
    finally:
        await pool.aclose()


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    if args.command == "worker":
        run_worker(args.redis, args.concurrency)
    elif args.command == "versions":
        emit({"arq": version("arq"), "redis-py": version("redis")})
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
