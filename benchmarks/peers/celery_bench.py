"""Celery with the Redis broker: `delay` / a `group`'s `apply_async`; `celery worker`.

Its default pool is prefork with one child per core; to keep to one worker process, the default
case runs prefork with one child (`--concurrency 1`) and the concurrent case the thread pool.
No result backend: a no-op job has no result to keep.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from typing import Any

from celery import Celery, group

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

app = Celery("bench", broker=os.environ.get("FBQ_PEERS_REDIS", "redis://127.0.0.1:6379/0"))
app.conf.task_default_queue = QUEUE
job: Any = app.task(name="job")(mark)


def enqueue(jobs: int, bulk: bool) -> None:
    if not bulk:
        for _ in range(jobs):
            job.delay(payload())
        return
    for start in range(0, jobs, 1000):
        group(job.s(payload()) for _ in range(min(1000, jobs - start))).apply_async()


def worker(url: str, concurrency: int) -> Worker:
    argv = [tool("celery"), "-A", "benchmarks.peers.celery_bench", "worker", "-Q", QUEUE]
    argv += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    if concurrency:
        argv += ["--pool", "threads", "--concurrency", str(concurrency)]
    else:
        argv += ["--pool", "prefork", "--concurrency", "1"]
    return Worker(argv, {"FBQ_PEERS_REDIS": url})


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    app.conf.broker_url = args.redis
    if args.command == "enqueue":
        flush(args.redis)
        emit(timed(args.jobs, lambda: enqueue(args.jobs, args.bulk)))
    elif args.command == "drain":
        flush(args.redis)
        enqueue(args.jobs, bulk=True)
        emit(drain_run(worker(args.redis, args.concurrency), args.jobs))
    elif args.command == "latency":
        flush(args.redis)
        enqueue(1, bulk=False)
        produce = lambda: produce_paced(args.rate, args.seconds, job.delay)  # noqa: E731
        emit(latency_run(worker(args.redis, args.concurrency), produce))
    elif args.command == "memory":
        emit(memory_run(args.redis, args.jobs, lambda n: enqueue(n, bulk=True)))
    elif args.command == "versions":
        emit({"celery": version("celery"), "kombu": version("kombu"), "redis-py": version("redis")})
    else:
        sys.exit("the worker is `celery worker`")


if __name__ == "__main__":
    main()
