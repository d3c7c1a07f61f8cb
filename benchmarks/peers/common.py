"""The protocol every Python adapter follows, in the standard library only (both venvs load it).

An adapter is a CLI: `enqueue --jobs N [--bulk]`, `drain --jobs N --concurrency C` (0: the
system's default), `latency --rate R --seconds S --concurrency C`, `memory --jobs N` and
`versions`, each against `--redis URL`, each printing one JSON line. Producers run in the adapter
process; workers are separate processes started by `Worker`.

Every job runs the same function body: `mark(payload)`, which appends "<start time> <head of the
payload>" to a file of its own process. Drain rates come from the first and last start times,
latencies from the submit time a latency payload starts with ("<time.time()>|xxx…"): one clock
(time.time() here, performance.timeOrigin + performance.now() in Node) on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD_CHARS = 200
MARKS_ENV = "FBQ_PEERS_MARKS"
QUEUE = "bench"
# Long enough for the slowest worker at the default counts; a stuck case fails, the run goes on.
WAIT_TIMEOUT = 600.0

_marks: IO[str] | None = None


def payload(submitted: float | None = None) -> str:
    """PAYLOAD_CHARS characters; a latency payload begins with its submit time."""
    head = "" if submitted is None else f"{submitted:.6f}|"
    return head + "x" * (PAYLOAD_CHARS - len(head))


def mark(body: str) -> None:
    """The whole job: note when it started, in this process's own marks file."""
    global _marks  # noqa: PLW0603  (one file per worker process, opened by its first job)
    now = time.time()
    if _marks is None:
        folder = os.environ[MARKS_ENV]
        _marks = open(f"{folder}/{os.getpid()}.marks", "a", buffering=1)  # noqa: SIM115
    _marks.write(f"{now:.6f} {body[:24]}\n")


def read_marks(folder: Path) -> list[tuple[float, str]]:
    """Every (start time, payload head) written in `folder` so far."""
    found = []
    for path in folder.glob("*.marks"):
        for line in path.read_text().splitlines():
            start, _, head = line.partition(" ")
            if head:  # a line still being written has no head yet
                found.append((float(start), head))
    return found


def drain_rate(marks: Sequence[tuple[float, str]]) -> float:
    """Jobs started per second from the first start to the last."""
    starts = sorted(start for start, _ in marks)
    return (len(starts) - 1) / (starts[-1] - starts[0])


def latency_stats(marks: Sequence[tuple[float, str]]) -> dict[str, float]:
    """Submit→start percentiles (ms) of the latency payloads among `marks`."""
    waits = sorted(
        (start - float(head.split("|", 1)[0])) * 1000 for start, head in marks if "|" in head
    )
    if not waits:
        raise RuntimeError("no latency payload was started")
    return {
        "p50_ms": statistics.median(waits),
        "p99_ms": waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))],
        "max_ms": waits[-1],
        "samples": float(len(waits)),
    }


class Worker:
    """A worker process of the system under test, with its own marks folder."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="fbq-peers-")
        self.folder = Path(self._dir.name)
        self.argv = list(argv)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            MARKS_ENV: str(self.folder),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Worker:
        log = (self.folder / "worker.log").open("wb")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            process_group=0,  # its children (Celery's pool) are stopped with it
        )
        log.close()
        return self

    def wait(self, count: int, timeout: float = WAIT_TIMEOUT) -> list[tuple[float, str]]:
        """Until `count` jobs have started; the marks."""
        deadline = time.monotonic() + timeout
        while True:
            marks = read_marks(self.folder)
            if len(marks) >= count:
                return marks
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.folder / "worker.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{len(marks)} of {count} jobs started; worker log:\n{tail}")
            time.sleep(0.02)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._dir.cleanup()


def paced(rate: float, seconds: float) -> list[float]:
    """The perf_counter instants at which a fixed-rate producer submits."""
    start = time.perf_counter() + 0.05
    return [start + i / rate for i in range(round(rate * seconds))]


def produce_paced(rate: float, seconds: float, submit: Callable[[str], object]) -> int:
    """Submit latency payloads at `rate` per second for `seconds`; how many."""
    plan = paced(rate, seconds)
    for due in plan:
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        submit(payload(time.time()))
    return len(plan)


async def produce_paced_async(
    rate: float, seconds: float, submit: Callable[[str], Awaitable[object]]
) -> int:
    """`produce_paced` for an asyncio producer."""
    plan = paced(rate, seconds)
    for due in plan:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await submit(payload(time.time()))
    return len(plan)


def latency_run(worker: Worker, produce: Callable[[], int]) -> dict[str, float]:
    """Start `worker`, wait until it runs a first job, then time `produce`'s jobs."""
    with worker:
        worker.wait(1)
        count = produce()
        marks = worker.wait(1 + count)
    return latency_stats(marks)


def drain_run(worker: Worker, jobs: int) -> dict[str, float]:
    """Start `worker` on a backlog of `jobs` already queued; its rate."""
    with worker:
        marks = worker.wait(jobs)
    return {"jobs_per_s": drain_rate(marks)}


def timed(jobs: int, work: Callable[[], object]) -> dict[str, float]:
    """Jobs per second of `work`."""
    started = time.perf_counter()
    work()
    return {"jobs_per_s": jobs / (time.perf_counter() - started)}


async def timed_async(jobs: int, work: Callable[[], Awaitable[object]]) -> dict[str, float]:
    started = time.perf_counter()
    await work()
    return {"jobs_per_s": jobs / (time.perf_counter() - started)}


def used_memory(url: str) -> int:
    """INFO used_memory of the server at `url`."""
    import redis  # noqa: PLC0415  (both venvs have redis-py; this module stays stdlib-only)

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def flush(url: str) -> None:
    """An empty server before each measurement."""
    import redis  # noqa: PLC0415

    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()


def parser(description: str) -> argparse.ArgumentParser:
    """The adapters' common command line."""
    cli = argparse.ArgumentParser(description=description)
    cli.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the server to use")
    commands = cli.add_subparsers(dest="command", required=True)
    enqueue = commands.add_parser("enqueue", help="enqueue N jobs, one at a time or in bulk")
    enqueue.add_argument("--jobs", type=int, required=True)
    enqueue.add_argument("--bulk", action="store_true")
    drain = commands.add_parser("drain", help="one worker process drains N queued no-op jobs")
    drain.add_argument("--jobs", type=int, required=True)
    drain.add_argument("--concurrency", type=int, default=0, help="0: the system's default")
    latency = commands.add_parser("latency", help="submit→start at a fixed offered load")
    latency.add_argument("--rate", type=float, required=True)
    latency.add_argument("--seconds", type=float, required=True)
    latency.add_argument("--concurrency", type=int, default=0)
    memory = commands.add_parser("memory", help="used_memory delta per queued job")
    memory.add_argument("--jobs", type=int, required=True)
    commands.add_parser("versions", help="the versions of what is measured")
    worker = commands.add_parser("worker", help="run a worker process (what drain/latency start)")
    worker.add_argument("--concurrency", type=int, default=0)
    return cli


def emit(result: dict[str, Any]) -> None:
    """The adapter's one JSON line."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def memory_run(url: str, jobs: int, enqueue: Callable[[int], object]) -> dict[str, float]:
    """Bytes of used_memory per job that `enqueue(n)` queues on the fresh server at `url`.

    One job goes first, uncounted: it loads the system's Lua scripts and makes its per-queue
    keys, which every later job shares.
    """
    flush(url)
    enqueue(1)
    before = used_memory(url)
    enqueue(jobs)
    return {"bytes_per_job": (used_memory(url) - before) / jobs}


def tool(name: str) -> str:
    """A console script of the venv running this adapter (rq, celery, dramatiq…)."""
    return str(Path(sys.executable).parent / name)


async def memory_run_async(
    url: str, jobs: int, enqueue: Callable[[int], Awaitable[object]]
) -> dict[str, float]:
    """`memory_run` for an asyncio producer."""
    flush(url)
    await enqueue(1)
    before = used_memory(url)
    await enqueue(jobs)
    return {"bytes_per_job": (used_memory(url) - before) / jobs}
