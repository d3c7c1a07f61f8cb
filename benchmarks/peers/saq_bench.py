"""saq: `Queue.enqueue` (no bulk API); a `saq.Worker` with its concurrency (default 10)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib.metadata import version
from typing import Any

from saq import Queue
from saq import Worker as SaqWorker

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

DEFAULT_CONCURRENCY = 10


async def job(ctx: dict[str, Any], *, body: str) -> None:
    mark(body)


async def enqueue(queue: Queue, jobs: int) -> None:
    for _ in range(jobs):
        await queue.enqueue("job", body=payload())


def worker(url: str, concurrency: int) -> Worker:
    argv = ["-m", "benchmarks.peers.saq_bench", "--redis", url, "worker"]
    return Worker([sys.executable, *argv, "--concurrency", str(concurrency)])


async def run_worker(url: str, concurrency: int) -> None:
    queue = Queue.from_url(url, name=QUEUE)
    await SaqWorker(queue, [job], concurrency=concurrency or DEFAULT_CONCURRENCY).start()


async def measure(args: argparse.Namespace) -> None:
    flush(args.redis)
    queue = Queue.from_url(args.redis, name=QUEUE)
    await queue.connect()
    try:
        if args.command == "enqueue":
            emit(await timed_async(args.jobs, lambda: enqueue(queue, args.jobs)))
        elif args.command == "drain":
            await enqueue(queue, args.jobs)
            run = worker(args.redis, args.concurrency)
            emit(await asyncio.to_thread(drain_run, run, args.jobs))
        elif args.command == "latency":
            await enqueue(queue, 1)
            loop = asyncio.get_running_loop()

            async def submit(body: str) -> None:
                await queue.enqueue("job", body=body)

            def produce() -> int:
                paced = produce_paced_async(args.rate, args.seconds, submit)
                return asyncio.run_coroutine_threadsafe(paced, loop).result()

            run = worker(args.redis, args.concurrency)
            emit(await asyncio.to_thread(latency_run, run, produce))
        elif args.command == "memory":
            emit(await memory_run_async(args.redis, args.jobs, lambda n: enqueue(queue, n)))
    finally:
        await queue.disconnect()


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    if args.command == "worker":
        asyncio.run(run_worker(args.redis, args.concurrency))
    elif args.command == "versions":
        emit({"saq": version("saq"), "redis-py": version("redis")})
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
