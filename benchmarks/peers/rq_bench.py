"""RQ: `Queue.enqueue` / `enqueue_many`; `rq worker` (forks a work horse per job) or SimpleWorker.

RQ runs one job at a time per worker process, so its "best" is the SimpleWorker class, which
skips the fork; concurrency is always 1.
"""

from __future__ import annotations

from importlib.metadata import version

from redis import Redis
from rq import Queue

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


def enqueue(queue: Queue, jobs: int, bulk: bool) -> None:
    if not bulk:
        for _ in range(jobs):
            queue.enqueue(mark, payload())
        return
    for start in range(0, jobs, 1000):
        batch = [Queue.prepare_data(mark, (payload(),)) for _ in range(min(1000, jobs - start))]
        queue.enqueue_many(batch)


def worker(url: str, concurrency: int) -> Worker:
    # concurrency 0 is RQ's default Worker; anything else asks for the fork-free SimpleWorker.
    argv = [tool("rq"), "worker", "--url", url, "--quiet"]
    if concurrency:
        argv += ["--worker-class", "rq.worker.SimpleWorker"]
    return Worker([*argv, QUEUE])


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    client = Redis.from_url(args.redis)
    queue = Queue(QUEUE, connection=client)
    if args.command == "enqueue":
        flush(args.redis)
        emit(timed(args.jobs, lambda: enqueue(queue, args.jobs, args.bulk)))
    elif args.command == "drain":
        flush(args.redis)
        enqueue(queue, args.jobs, bulk=True)
        emit(drain_run(worker(args.redis, args.concurrency), args.jobs))
    elif args.command == "latency":
        flush(args.redis)
        queue.enqueue(mark, payload())
        produce = lambda: produce_paced(args.rate, args.seconds, lambda p: queue.enqueue(mark, p))  # noqa: E731
        emit(latency_run(worker(args.redis, args.concurrency), produce))
    elif args.command == "memory":
        emit(memory_run(args.redis, args.jobs, lambda n: enqueue(queue, n, bulk=True)))
    else:
        emit({"rq": version("rq"), "redis-py": version("redis")})


if __name__ == "__main__":
    main()
