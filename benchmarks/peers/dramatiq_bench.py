"""dramatiq with the Redis broker: `Actor.send` (no bulk API); `dramatiq --processes 1`.

The `dramatiq` command forks one worker process per core by default; `--processes 1` keeps to
one, with its default of 8 threads unless a concurrency is asked for.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks.peers.common import (
    QUEUE,
    Worker,
    drain_run,
    emit,
    flush,
    latency_run,
    mark,
    memory_run,
    parser,
    payload,
    produce_paced,
    timed,
    tool,
)

# The worker process (the `dramatiq` command) imports this module; FBQ_PEERS_REDIS names its server.
dramatiq.set_broker(RedisBroker(url=os.environ.get("FBQ_PEERS_REDIS", "redis://127.0.0.1:6379/0")))
job: Any = dramatiq.actor(actor_name="job", queue_name=QUEUE)(mark)


def use_broker(url: str) -> None:
    """Point the actor at `url`: the broker above was made at import, before the URL was known."""
    broker = RedisBroker(url=url)
    dramatiq.set_broker(broker)
    job.broker = broker
    broker.declare_actor(job)


def enqueue(jobs: int) -> None:
    for _ in range(jobs):
        job.send(payload())


def worker(url: str, concurrency: int) -> Worker:
    argv = [tool("dramatiq"), "benchmarks.peers.dramatiq_bench", "--processes", "1"]
    argv += ["--queues", QUEUE]
    if concurrency:
        argv += ["--threads", str(concurrency)]
    return Worker(argv, {"FBQ_PEERS_REDIS": url})


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    use_broker(args.redis)
    if args.command == "enqueue":
        flush(args.redis)
        emit(timed(args.jobs, lambda: enqueue(args.jobs)))
    elif args.command == "drain":
        flush(args.redis)
        enqueue(args.jobs)
        emit(drain_run(worker(args.redis, args.concurrency), args.jobs))
    elif args.command == "latency":
        flush(args.redis)
        enqueue(1)
        produce = lambda: produce_paced(args.rate, args.seconds, job.send)  # noqa: E731
        emit(latency_run(worker(args.redis, args.concurrency), produce))
    elif args.command == "memory":
        emit(memory_run(args.redis, args.jobs, enqueue))
    elif args.command == "versions":
        emit({"dramatiq": version("dramatiq"), "redis-py": version("redis")})
    else:
        sys.exit("the worker is `dramatiq`")


if __name__ == "__main__":
    main()
