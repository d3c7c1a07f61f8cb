"""`python -m ingest_service` as a real process for the tests that measure it (memory, logs,
readiness), and what /proc says of it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feedback_queue.refusal import DETAILS_KEY
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclass
class IngestProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def memory_mib(self, field: str = "VmRSS") -> float:
        """VmRSS (now) or VmHWM (the peak so far) of the process, in MiB, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no {field} in /proc/{self.process.pid}/status")


async def wait_ready(address: str, timeout: float = 30.0) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service="readiness"), wait_for_ready=True
        )
        async with asyncio.timeout(timeout):
            async for reply in watch:
                if reply.status == SERVING:
                    watch.cancel()
                    return


@contextlib.asynccontextmanager
async def ingest_process(
    redis: EmbeddedRedis, queue: str, folder: Path, **env: str
) -> AsyncIterator[IngestProcess]:
    """A ready ingest process on a free port, with FBQ_* `env`; killed afterwards."""
    port = free_port()
    log = folder / f"ingest-{port}.log"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FBQ_", "REDIS_"))},
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "FBQ_QUEUE": queue,
        "FBQ_INGEST_PORT": str(port),
        # Loopback: without credentials ingest serves nothing beyond it.
        "FBQ_INGEST_HOST": "127.0.0.1",
        "FBQ_HEALTH_INTERVAL": "200ms",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest_service"],
            env=environ,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        await wait_ready(f"127.0.0.1:{port}")
        yield IngestProcess(process, port, log)
    finally:
        process.kill()
        process.wait(30)


def reason_in(trailers: object) -> str:
    """The ErrorInfo reason in a refused call's trailing metadata ("" if none)."""
    pairs = cast(Iterable[tuple[str, str | bytes]], trailers or ())
    raw = dict(pairs).get(DETAILS_KEY)
    if not isinstance(raw, bytes):
        return ""
    for detail in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def reason(exc: grpc.aio.AioRpcError) -> str:
    return reason_in(exc.trailing_metadata())


SubmitStreamCall = grpc.aio.StreamStreamCall[pb.SubmitRequest, pb.SubmitStreamResponse]
WatchCall = grpc.aio.UnaryStreamCall[pb.WatchSubmissionRequest, pb.SubmissionInfo]


Metadata = tuple[tuple[str, str], ...]


def submit_stream(channel: grpc.aio.Channel, metadata: Metadata = ()) -> SubmitStreamCall:
    """A SubmitStream call to write to and read from (the generated stubs type it as sync)."""
    method = channel.stream_stream(
        "/feedback_queue.v1.SubmissionService/SubmitStream",
        request_serializer=pb.SubmitRequest.SerializeToString,
        response_deserializer=pb.SubmitStreamResponse.FromString,
    )
    # No request iterator: the caller writes with write().
    return cast(SubmitStreamCall, cast(Any, method)(metadata=metadata))


async def reply(call: SubmitStreamCall) -> pb.SubmitStreamResponse:
    """The next reply of a stream (not its end)."""
    response = await call.read()
    assert isinstance(response, pb.SubmitStreamResponse), response
    return response


def watch_call(channel: grpc.aio.Channel, job_id: str, metadata: Metadata = ()) -> WatchCall:
    return channel.unary_stream(
        "/feedback_queue.v1.SubmissionService/WatchSubmission",
        request_serializer=pb.WatchSubmissionRequest.SerializeToString,
        response_deserializer=pb.SubmissionInfo.FromString,
    )(pb.WatchSubmissionRequest(id=job_id), metadata=metadata)
