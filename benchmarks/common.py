"""What the benchmarks share: the 200-byte payload, a rate timer, waiting for a service."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feedback_queue.v1 import queue_pb2 as pb

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
