"""What the benchmarks share: the 200-byte payload, a rate timer, waiting for a service."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feedback_queue.queue import Queue
from feedback_queue.v1 import queue_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent

PAYLOAD_BYTES = 200


def payload_submission() -> pb.Submission:
    """A Submission whose serialized form is exactly PAYLOAD_BYTES long."""
    sub = pb.Submission(submitter_id="bench-user", content="")
    sub.content = "x" * (PAYLOAD_BYTES - len(sub.SerializeToString()) - 3)
    assert len(sub.SerializeToString()) == PAYLOAD_BYTES
    return sub


async def rate(jobs: int, work: Callable[[], Awaitable[object]]) -> float:
    """Jobs per second of `work`."""
    started = time.perf_counter()
    await work()
    return jobs / (time.perf_counter() - started)


async def wait_ready(address: str) -> None:
    """Until the gRPC health service at `address` says readiness SERVING."""
    async with grpc.aio.insecure_channel(address) as channel:
        request = health_pb2.HealthCheckRequest(service="readiness")
        stub = health_pb2_grpc.HealthStub(channel)
        async for reply in stub.Watch(request, wait_for_ready=True):
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return


async def timed_drain(queue: Queue, jobs: int, env: Mapping[str, str]) -> float:
    """Jobs per second of one `python -m worker_service`, started with `env` (its readiness on
    FBQ_WORKER_HEALTH_PORT), draining the `jobs` of `queue`, which the caller filled paused.

    The clock starts when the worker has noticed the resume (it looks every second while
    paused) and ends when every job is COMPLETED; both are seen within 5 ms."""
    worker = subprocess.Popen([sys.executable, "-m", "worker_service"], env=dict(env), cwd=ROOT)
    try:
        await wait_ready(f"127.0.0.1:{env['FBQ_WORKER_HEALTH_PORT']}")
        await queue.resume()
        while (stats := await queue.stats()).active == 0 and stats.completed == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        while (await queue.stats()).completed < jobs:  # noqa: ASYNC110  (the measurement)
            await asyncio.sleep(0.005)
        return jobs / (time.perf_counter() - started)
    finally:
        worker.terminate()
        worker.wait(30)
