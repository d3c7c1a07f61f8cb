"""The ingest service as a real process and as a foreign client sees it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from feedback_queue.connection import create_client
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.conftest import redis_settings
from tests.helpers import submission
from tests.ingest.conftest import Ingest, StartIngest

ROOT = Path(__file__).resolve().parents[2]


async def test_a_client_built_from_the_proto_alone_calls_every_rpc(ingest: Ingest) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-I",
            str(Path(__file__).with_name("proto_only_client.py")),
            str(ROOT / "protos"),
            f"127.0.0.1:{ingest.server.port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    submitted = out["Submit"]["id"]
    assert out["Submit"] == {"id": submitted, "status": pb.WAITING, "duplicate": False}
    assert out["SubmitStream"] == ["accepted", "error"]
    assert out["GetSubmission"] == {"content": "Written from the proto alone.", "status": 1}
    assert out["WatchSubmission"] == pb.WAITING
    assert out["GetRedisHealth"] == {"connected": True, "waiting": 2}
    assert out["GetQueueStats"] == 2
    assert submitted in out["ListSubmissions"]
    assert out["RetrySubmission"] == "FAILED_PRECONDITION"  # it is WAITING, not FAILED
    assert (out["PauseQueue"], out["ResumeQueue"]) == (True, False)
    assert out["DeleteSubmission"] == "OK"
    assert out["imported_project"] == []


def reflected_services(port: int) -> set[str]:
    # A blocking client, run in a thread while the server's event loop goes on.
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return set(ProtoReflectionDescriptorDatabase(channel).get_services())


async def test_reflection_lists_the_services(ingest: Ingest) -> None:
    services = await asyncio.to_thread(reflected_services, ingest.server.port)
    assert {
        "feedback_queue.v1.SubmissionService",
        "feedback_queue.v1.AdminService",
        "grpc.health.v1.Health",
    } <= services


async def test_reflection_can_be_turned_off(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(reflection=False)
    with pytest.raises(grpc.RpcError) as info:
        await asyncio.to_thread(reflected_services, ingest.server.port)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_sigterm_finishes_in_flight_calls_and_loses_nothing(
    redis_server: EmbeddedRedis, queue_name: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "FBQ_QUEUE": queue_name,
        "FBQ_INGEST_HOST": "127.0.0.1",
        "FBQ_INGEST_PORT": str(port),
        "FBQ_SHUTDOWN_GRACE": "10s",
        "FBQ_HEALTH_INTERVAL": "100ms",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest_service"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    acknowledged: list[str] = []
    refused: list[grpc.StatusCode] = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            watch = health.Watch(
                health_pb2.HealthCheckRequest(service="readiness"), wait_for_ready=True
            )
            async for reply in watch:
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            stub = pb_grpc.SubmissionServiceStub(channel)
            enough = asyncio.Event()

            async def producer(n: int) -> None:
                for i in range(200):
                    req = pb.SubmitRequest(submission=submission(f"p{n} #{i}"))
                    try:
                        acknowledged.append((await stub.Submit(req)).id)
                    except grpc.aio.AioRpcError as exc:
                        refused.append(exc.code())
                        return
                    if len(acknowledged) >= 100:
                        enough.set()

            producers = [asyncio.create_task(producer(n)) for n in range(8)]
            await enough.wait()
            process.send_signal(signal.SIGTERM)
            await asyncio.gather(*producers)
        code = await asyncio.to_thread(process.wait, 30)
    finally:
        process.kill()
        output = process.stdout.read().decode() if process.stdout else ""
        if process.stdout:
            process.stdout.close()
    assert code == 0, output
    assert "shutting down" in output
    assert "stopped" in output
    assert len(acknowledged) >= 100
    # Calls racing the shutdown are refused (grpc core cancels calls it has not started) and
    # not acknowledged: the client retries them with their idempotency key.
    assert set(refused) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    client = create_client(redis_settings(redis_server))
    queue = Queue(client, QueueConfig(name=queue_name))
    stored = {job.id for job in (await queue.take("check", 10_000)).jobs}
    await client.aclose()
    assert set(acknowledged) <= stored
