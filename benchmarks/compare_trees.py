"""Two checkouts side by side: the same load on each one's worker and ingest, rounds interleaved.

    .venv/bin/python -m benchmarks.compare_trees --before /tmp/before --after . --rounds 4

For a change to a hot path: `git worktree add /tmp/before HEAD~1` (or any commit), then this.
One redis-server (AOF on, appendfsync everysec) serves every measurement; each tree's processes
run its own code (`python -m worker_service` and `python -m ingest_service` with the tree as
working directory and PYTHONPATH, with the tree's `.venv` when it has one). Rounds alternate the
order (before, after, then after, before) so that drift of the machine falls on both. It prints
each side's median and after/before:
  - drain jobs/s of one worker on a backlog: no-op at concurrency 1 and 16, 10 ms at 64, and
    the scripts it ran per job (from INFO commandstats): round trips, free of the machine's noise
  - unary Submit with 32 concurrent callers: submissions/s, and the ingest process's CPU time
    per submission (from /proc), which is steadier than a rate on a busy machine
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from benchmarks.common import payload_submission, wait_ready
from feedback_queue.connection import create_client
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc

DRAINS = [("drain no-op, concurrency 1", "noop", 1, 3000)]
DRAINS += [("drain no-op, concurrency 16", "noop", 16, 20000)]
DRAINS += [("drain 10 ms, concurrency 64", "wait_10ms", 64, 20000)]
SUBMITS, CALLERS = 6000, 32
TICKS = os.sysconf("SC_CLK_TCK")
EVALS = ("evalsha", "eval")


@dataclass(frozen=True)
class Tree:
    root: Path

    @property
    def python(self) -> str:
        own = self.root / ".venv" / "bin" / "python"
        return str(own) if own.exists() else sys.executable

    def start(self, module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, **env, "PYTHONPATH": str(self.root), "FBQ_LOG_LEVEL": "WARNING"}
        return subprocess.Popen([self.python, "-m", module], env=env, cwd=self.root)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def drain(
    tree: Tree, redis_port: int, processor: str, slots: int, jobs: int
) -> tuple[float, float]:
    """Jobs/s of one worker of `tree` draining `jobs` queued while paused, and the scripts it
    ran per job."""
    client = create_client(RedisSettings(host="127.0.0.1", port=redis_port))
    await client.flushdb()
    queue = Queue(client, QueueConfig(name="compare"))
    await queue.pause()
    await queue.enqueue_many([(payload_submission(), 0.0)] * jobs)
    health = free_port()
    worker = tree.start(
        "worker_service",
        {
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "FBQ_QUEUE": "compare",
            "FBQ_PROCESSOR": f"benchmarks.processors:{processor}",
            "FBQ_CONCURRENCY": str(slots),
            "FBQ_WORKER_HEALTH_PORT": str(health),
        },
    )
    try:
        await wait_ready(f"127.0.0.1:{health}")
        await client.config_resetstat()
        await queue.resume()
        polls = 1  # our own stats script calls, not counted against the worker
        while (stats := await queue.stats()).active == 0 and stats.completed == 0:
            polls += 1
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        while (await queue.stats()).completed < jobs:
            polls += 1
            await asyncio.sleep(0.005)
        rate = jobs / (time.perf_counter() - started)
        commands = await client.info("commandstats")
        scripts = sum(int(commands.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in EVALS)
        return rate, (scripts - polls - 1) / jobs
    finally:
        worker.terminate()
        worker.wait(30)
        await client.aclose()


async def submit(tree: Tree, redis_port: int) -> tuple[float, float]:
    """Submissions/s of CALLERS concurrent unary Submits to `tree`'s ingest, and its CPU µs each."""
    port = free_port()
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "FBQ_INGEST_PORT": str(port),
        "FBQ_INGEST_HOST": "127.0.0.1",
    }
    server = tree.start("ingest_service", {**env, "FBQ_QUEUE": "compare-ingest"})
    try:
        await wait_ready(f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.SubmissionServiceStub(channel)
            request = pb.SubmitRequest(submission=payload_submission())

            async def caller(count: int) -> None:
                for _ in range(count):
                    await stub.Submit(request)

            await caller(200)  # warm-up: connections, caches
            cpu, started = cpu_seconds(server.pid), time.perf_counter()
            await asyncio.gather(*(caller(SUBMITS // CALLERS) for _ in range(CALLERS)))
            elapsed, cpu = time.perf_counter() - started, cpu_seconds(server.pid) - cpu
        done = SUBMITS // CALLERS * CALLERS
        return done / elapsed, cpu / done * 1e6
    finally:
        server.terminate()
        server.wait(30)


async def measures(tree: Tree, redis_port: int) -> dict[str, float]:
    found = {}
    for name, processor, slots, jobs in DRAINS:
        rate, scripts = await drain(tree, redis_port, processor, slots, jobs)
        found[f"{name} (jobs/s)"] = rate
        found[f"{name} (scripts per 100 jobs)"] = scripts * 100
    rate, cpu = await submit(tree, redis_port)
    found[f"Submit, {CALLERS} callers (submissions/s)"] = rate
    found["Submit: ingest CPU per submission (µs, lower is better)"] = cpu
    return found


async def main(before: Tree, after: Tree, rounds: int) -> None:
    runs: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
        for round_ in range(rounds):
            order = [("before", before), ("after", after)]
            for side, tree in order if round_ % 2 == 0 else order[::-1]:
                for name, value in (await measures(tree, redis.port)).items():
                    runs[side].setdefault(name, []).append(value)
                    print(f"round {round_ + 1} {side:6} {name}: {value:,.0f}", flush=True)
    print(f"\nmedians of {rounds} rounds; before = {before.root}, after = {after.root}\n")
    print(f"{'measure':58} {'before':>9} {'after':>9}  after/before")
    for name, values in runs["before"].items():
        old, new = statistics.median(values), statistics.median(runs["after"][name])
        print(f"{name:58} {old:9,.0f} {new:9,.0f}  {new / old:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout to compare with")
    parser.add_argument("--after", type=Path, default=Path("."), help="the changed checkout (.)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds over every measure (4)")
    options = parser.parse_args()
    trees = (Tree(options.before.resolve()), Tree(options.after.resolve()))
    asyncio.run(main(*trees, options.rounds))
