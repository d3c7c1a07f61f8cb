"""FBQ_INGEST_ADMIN_PORT: AdminService on its own port, SubmissionService alone on the main one.

This split is what lets the Kubernetes NetworkPolicy admit only the gateway to AdminService
(deploy/k8s/base/networkpolicies.yaml, tests/deploy/test_policies.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feedback_queue.errors import ConfigError
from feedback_queue.settings import Settings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.helpers import submission
from tests.ingest.conftest import Ingest, StartIngest
from tests.ingest.test_process import ROOT, reflected_services

ADMIN = "feedback_queue.v1.AdminService"


async def test_the_main_port_refuses_admin_service_and_the_admin_port_serves_it(
    start_ingest: StartIngest,
) -> None:
    ingest: Ingest = await start_ingest(ingest_admin_port=free_port())
    assert ingest.server.admin_port is not None
    # The main port: SubmissionService answers, AdminService is not there at all.
    reply = await ingest.submissions.Submit(pb.SubmitRequest(submission=submission()))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ingest.admin.GetQueueStats(pb.GetQueueStatsRequest())
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(grpc.aio.AioRpcError) as paused:
        await ingest.admin.PauseQueue(pb.PauseQueueRequest())
    assert paused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # The admin port: AdminService works, and so does SubmissionService (the gateway reads
    # submissions through the one address it is given).
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest.server.admin_port}") as channel:
        stats = await pb_grpc.AdminServiceStub(channel).GetQueueStats(pb.GetQueueStatsRequest())
        assert stats.waiting == 1
        info = await pb_grpc.SubmissionServiceStub(channel).GetSubmission(
            pb.GetSubmissionRequest(id=reply.id)
        )
        assert info.id == reply.id
        # Health on both ports, so either can be probed.
        check = health_pb2.HealthCheckRequest(service="readiness")
        for stub in (health_pb2_grpc.HealthStub(channel), ingest.health):
            answer = await stub.Check(check)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_without_an_admin_port_one_port_serves_both(ingest: Ingest) -> None:
    assert ingest.server.admin_port is None
    await ingest.submissions.Submit(pb.SubmitRequest(submission=submission()))
    stats = await ingest.admin.GetQueueStats(pb.GetQueueStatsRequest())
    assert stats.waiting == 1


def test_the_admin_port_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).ingest_admin_port is None
    assert Settings.from_env({"FBQ_INGEST_ADMIN_PORT": "50053"}).ingest_admin_port == 50053
    with pytest.raises(ConfigError, match="FBQ_INGEST_ADMIN_PORT"):
        Settings.from_env({"FBQ_INGEST_ADMIN_PORT": "50051"})
    with pytest.raises(ConfigError, match="FBQ_INGEST_ADMIN_PORT"):
        Settings.from_env({"FBQ_INGEST_ADMIN_PORT": "0"})


async def test_fbq_ingest_with_an_admin_port_splits_the_services(
    redis_server: EmbeddedRedis, queue_name: str
) -> None:
    port, admin_port = free_port(), free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "FBQ_QUEUE": queue_name,
        "FBQ_INGEST_HOST": "127.0.0.1",
        "FBQ_INGEST_PORT": str(port),
        "FBQ_INGEST_ADMIN_PORT": str(admin_port),
        "FBQ_HEALTH_INTERVAL": "100ms",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest_service"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as main,
            grpc.aio.insecure_channel(f"127.0.0.1:{admin_port}") as admin,
        ):
            check = health_pb2.HealthCheckRequest(service="readiness")
            for channel in (main, admin):
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    check, wait_for_ready=True, timeout=30
                )
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            submitted = await pb_grpc.SubmissionServiceStub(main).Submit(
                pb.SubmitRequest(submission=submission())
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.AdminServiceStub(main).DeleteSubmission(
                    pb.DeleteSubmissionRequest(id=submitted.id)
                )
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
            stats = await pb_grpc.AdminServiceStub(admin).GetQueueStats(pb.GetQueueStatsRequest())
            assert stats.waiting == 1
        # Reflection tells the truth about each port.
        assert ADMIN not in await asyncio.to_thread(reflected_services, port)
        assert ADMIN in await asyncio.to_thread(reflected_services, admin_port)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
    finally:
        process.kill()
        output = process.stdout.read().decode() if process.stdout else ""
        if process.stdout:
            process.stdout.close()
    assert code == 0, output
    assert f"on :{port}, AdminService on :{admin_port}" in output
