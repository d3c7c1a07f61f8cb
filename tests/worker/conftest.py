"""Worker processes for tests, and the event log their processors write to."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from feedback_queue.connection import create_client
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.conftest import redis_settings

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    health_port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def ready(self) -> None:
        """Until the worker's health server says readiness SERVING (it is taking work); a worker
        that exits first fails the test with its output."""
        serving = asyncio.ensure_future(self._serving())
        exited = asyncio.ensure_future(asyncio.to_thread(self.process.wait))
        await asyncio.wait({serving, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            serving.cancel()
            raise AssertionError(f"the worker exited {exited.result()}: {self.output[-2000:]}")
        exited.cancel()  # the thread itself ends with the process, at the latest at teardown

    async def _serving(self) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.health_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="readiness")
            async for reply in stub.Watch(request, wait_for_ready=True):
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    async def exit_code(self, timeout: float = 30.0) -> int:
        return await asyncio.to_thread(self.process.wait, timeout)


@dataclass
class Events:
    """The processors' event log: who started and finished what, in order."""

    client: Redis
    key: str
    seen: list[tuple[str, str, int, int]] = field(default_factory=list)

    async def next(self, timeout: float = 30.0) -> tuple[str, str, int, int]:
        item: Any = await self.client.blpop([self.key], timeout=timeout)
        if item is None:
            raise AssertionError(f"no event within {timeout}s; saw {self.seen[-5:]}")
        kind, job_id, attempt, pid = item[1].decode().split()
        event = (kind, job_id, int(attempt), int(pid))
        self.seen.append(event)
        return event

    async def until(
        self, done: Callable[[list[tuple[str, str, int, int]]], bool], timeout: float = 60.0
    ) -> None:
        """Read events until `done(all events so far)`; each wait is bounded."""
        while not done(self.seen):
            await self.next(timeout)

    def count(self, kind: str) -> Counter[str]:
        return Counter(job_id for k, job_id, _, _ in self.seen if k == kind)


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def worker_env(redis_server: EmbeddedRedis, queue_name: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "FBQ_QUEUE": queue_name,
        "FBQ_TEST_EVENTS": f"redis://127.0.0.1:{redis_server.port}/0",
        "FBQ_TEST_EVENTS_KEY": f"events:{queue_name}",
        "FBQ_PROCESSOR": "tests.worker.processors:record",
        "FBQ_HEALTH_INTERVAL": "200ms",
        "FBQ_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[StartWorker]:
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        port = free_port()
        log_path = tmp_path / f"worker-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker_service"],
                env={**worker_env, "FBQ_WORKER_HEALTH_PORT": str(port), **env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process, port, log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()


@pytest.fixture
async def events(redis_server: EmbeddedRedis, worker_env: dict[str, str]) -> AsyncIterator[Events]:
    client = create_client(redis_settings(redis_server))
    yield Events(client, worker_env["FBQ_TEST_EVENTS_KEY"])
    await client.aclose()
