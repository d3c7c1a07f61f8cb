"""Run `fbq` for real against an ingest service on a free port and the tests' Redis.

In-process runs call `feedback_queue.cli.main` in a thread (it runs its own event loop, as the
command does, while the test's loop serves ingest); subprocess runs check exit codes and that
no traceback escapes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from feedback_queue.cli import main
from feedback_queue.processing import JobContext
from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from tests.ingest.conftest import Ingest, StartIngest, start_ingest  # noqa: F401  (shared fixture)
from tests.secrets import seen
from worker_service.processors import Processor
from worker_service.worker import Worker

CLIENT_VARIABLES = ("FBQ_GRPC_TOKEN", "FBQ_INGEST_ADDR", "NO_COLOR", "FORCE_COLOR")
FAST = WorkerConfig(concurrency=2, job_timeout=5.0, shutdown_grace=2.0, block_timeout=0.1)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@pytest.fixture(autouse=True)
def client_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory of the test's own (no stray .fbq/token) and no client variables."""
    for name in CLIENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no wrapping in captured output
    monkeypatch.chdir(tmp_path)
    return tmp_path


Fbq = Callable[..., Awaitable[Result]]


@pytest.fixture
async def ingest(start_ingest: StartIngest) -> Ingest:  # noqa: F811
    return await start_ingest()


@pytest.fixture
def fbq(capsys: pytest.CaptureFixture[str]) -> Fbq:
    """`await fbq("stats", "--json")`: main() in a thread; exit code and captured output."""

    async def run(*args: str) -> Result:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(args))
        captured = capsys.readouterr()
        seen(captured.out + captured.err)
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli(fbq: Fbq, ingest: Ingest) -> Fbq:
    """Like `fbq`, with `--addr` of the test's ingest appended."""

    async def run(*args: str) -> Result:
        return await fbq(*args, "--addr", address(ingest))

    return run


def address(ingest: Ingest) -> str:
    return f"127.0.0.1:{ingest.server.port}"


async def fbq_process(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    prints_a_secret: bool = False,
) -> Result:
    """`python -m feedback_queue.cli ARGS` in the test's directory; never blocks the loop.

    Its output joins what tests/test_no_secret_in_logs.py searches, except the stdout of a
    command whose answer is a secret by design (`fbq credentials add` prints the new token).
    """
    environ = {k: v for k, v in os.environ.items() if k not in CLIENT_VARIABLES}
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "feedback_queue.cli", *args],
        env={**environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    seen(result.stderr if prints_a_secret else result.stdout + result.stderr)
    return Result(result.returncode, result.stdout, result.stderr)


@asynccontextmanager
async def running_worker(
    queue: Queue, fn: Callable[[JobContext], Awaitable[Any]]
) -> AsyncIterator[Worker]:
    """A real worker on the ingest's queue, in this event loop, until the block ends."""
    worker = Worker(queue, Processor("test", fn), FAST, worker_id="w-cli")
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await task
