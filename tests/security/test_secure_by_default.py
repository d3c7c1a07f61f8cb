"""Secure by default (#21, finding 1): ingest beyond loopback with no credentials does not start.

Finding 1 was ingest binding [::] with no token, logging "auth off" at INFO, and serving every
submission, delete and pause to anyone. These run the real `python -m ingest_service`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feedback_queue.errors import ConfigError
from feedback_queue.exposure import check_ingest, is_loopback
from feedback_queue.settings import QueueConfig, Settings, TlsSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.conftest import redis_settings
from tests.secrets import seen
from worker_service.server import serve

ROOT = Path(__file__).resolve().parents[2]


def ingest_env(redis_server: EmbeddedRedis, queue_name: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FBQ_") and not key.startswith("REDIS_")
    }
    return {
        **env,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "FBQ_QUEUE": queue_name,
        "FBQ_INGEST_PORT": str(free_port()),
        "FBQ_STARTUP_TIMEOUT": "5s",
        **extra,
    }


def run_ingest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "ingest_service"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,  # the old ingest served forever: a timeout fails the test
        check=False,
    )
    seen(done.stdout + done.stderr)
    return done


@pytest.mark.parametrize("host", ["", "0.0.0.0", "[::]"])  # "": the default, [::]
def test_ingest_beyond_loopback_without_credentials_refuses_to_start(
    redis_server: EmbeddedRedis, queue_name: str, host: str
) -> None:
    extra = {"FBQ_INGEST_HOST": host} if host else {}
    done = run_ingest(ingest_env(redis_server, queue_name, **extra))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("fbq ingest: ingest would listen on")
    for variable in ("FBQ_CREDENTIALS_FILE", "FBQ_GRPC_TOKEN", "FBQ_INGEST_HOST", "FBQ_INSECURE"):
        assert variable in last
    assert "Traceback" not in done.stderr


def test_a_malformed_credentials_file_stops_the_start_naming_variable_and_line(
    redis_server: EmbeddedRedis, queue_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "credentials"
    path.write_text("# principal role credential\nalice producer not-a-hash\n")
    done = run_ingest(ingest_env(redis_server, queue_name, FBQ_CREDENTIALS_FILE=str(path)))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("fbq ingest: FBQ_CREDENTIALS_FILE, line 2: the credential must be")
    assert "not-a-hash" not in done.stderr  # never the line's content: it may be a token


async def test_fbq_insecure_lets_it_start_with_a_loud_warning(
    redis_server: EmbeddedRedis, queue_name: str
) -> None:
    env = ingest_env(redis_server, queue_name, FBQ_INSECURE="1", FBQ_INGEST_HOST="0.0.0.0")
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest_service"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{env['FBQ_INGEST_PORT']}") as channel:
            reply = await asyncio.wait_for(
                health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), wait_for_ready=True
                ),
                timeout=30,
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
    finally:
        process.kill()
        output = process.stdout.read().decode() if process.stdout else ""
        if process.stdout:
            process.stdout.close()
        seen(output)
    assert code == 0, output
    warning = next(line for line in output.splitlines() if "INSECURE" in line)
    assert "WARNING" in warning
    assert "FBQ_INSECURE=1" in warning
    assert "no credentials" in warning


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("[::]", False),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("ingest.example", False),  # a name may resolve to anything
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_the_worker_health_server_needs_no_credentials_as_it_serves_health_alone(
    redis_server: EmbeddedRedis, queue_name: str
) -> None:
    # Kubernetes' gRPC probes send no credentials; the server has no data and no action to
    # guard, so it starts on its default [::] without any (docs/security.md).
    settings = Settings(
        redis=redis_settings(redis_server),
        queue=QueueConfig(name=queue_name),
        worker_health_port=free_port(),
    )
    assert settings.worker_health_host == "[::]"
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, stop=stop))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.worker_health_port}") as ch:
            health = health_pb2_grpc.HealthStub(ch)
            reply = await health.Check(
                health_pb2.HealthCheckRequest(service="liveness"), wait_for_ready=True, timeout=30
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            for call in (
                pb_grpc.AdminServiceStub(ch).PauseQueue(pb.PauseQueueRequest()),
                pb_grpc.SubmissionServiceStub(ch).GetSubmission(pb.GetSubmissionRequest(id="x")),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call
                assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        stop.set()
        await worker


def test_mutual_tls_alone_counts_as_credentials_and_insecure_is_never_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mutual = TlsSettings(cert="server.pem", key="server.key", client_ca="ca.pem")
    check_ingest(Settings(tls=mutual))  # only holders of a certificate from the CA connect
    with pytest.raises(ConfigError, match="ingest would listen on \\[::\\] with no credentials"):
        check_ingest(Settings())
    check_ingest(Settings(ingest_host="127.0.0.1"))  # loopback: no credential needed
    assert caplog.records == []
    check_ingest(Settings(insecure=True))
    assert [r.levelname for r in caplog.records] == ["WARNING"]
