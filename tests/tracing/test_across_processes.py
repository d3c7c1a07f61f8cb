"""One trace from the caller to the processor, across two processes (ingest and a worker,
both real, exporting over OTLP to a receiver in this test), with the caller's own spans
collected by the SDK's in-memory exporter: caller -> client call -> ingest's server span ->
one `fbq process` span per attempt (a failed one, then its retry, siblings) -> the
processor's own span. And tracing off: no span, no stored context, the record unchanged."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from feedback_queue.record import decode
from feedback_queue.settings import Settings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.helpers import submission

ROOT = Path(__file__).resolve().parents[2]


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver: every span the services export, with its service name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "")
            for scope in resource_spans.scope_spans:
                self.spans += [(service, span) for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    server = grpc.aio.server()
    found = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(found, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield found, port
    await server.stop(None)


@pytest.fixture
def services(
    redis_server: EmbeddedRedis, queue_name: str, tmp_path: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def start(
    module: str, env: dict[str, str], log: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    with log.open("wb") as out:
        started.append(
            subprocess.Popen(
                [sys.executable, "-m", module], env=env, cwd=ROOT, stdout=out, stderr=out
            )
        )


async def serving(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        async for reply in health.Watch(health_pb2.HealthCheckRequest(), wait_for_ready=True):
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return


def hex_id(raw: bytes) -> str:
    return raw.hex()


async def test_one_trace_from_the_caller_to_the_processor(
    redis_server: EmbeddedRedis,
    queue_name: str,
    receiver: tuple[Receiver, int],
    services: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    found, otlp_port = receiver
    ingest_port, worker_port = free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FBQ_", "REDIS_", "OTEL_"))}
    env = {
        **base,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "FBQ_QUEUE": queue_name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    ingest_env = {**env, "FBQ_INGEST_HOST": "127.0.0.1", "FBQ_INGEST_PORT": str(ingest_port)}
    start("ingest_service", ingest_env, tmp_path / "i.log", services)
    worker_env = {
        **env,
        "FBQ_WORKER_HEALTH_HOST": "127.0.0.1",
        "FBQ_WORKER_HEALTH_PORT": str(worker_port),
        "FBQ_PROCESSOR": "tests.tracing.processor:process",
        "FBQ_BACKOFF_BASE": "100ms",
        "FBQ_BACKOFF_MAX": "200ms",
    }
    start("worker_service", worker_env, tmp_path / "w.log", services)
    async with asyncio.timeout(60):
        await serving(ingest_port)
        await serving(worker_port)

    # The caller: its own spans in memory, its channel instrumented.
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("caller")
    interceptors = aio_client_interceptors(tracer_provider=provider)  # type: ignore[no-untyped-call]
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{ingest_port}", interceptors=interceptors
    ) as channel:
        stub = pb_grpc.SubmissionServiceStub(channel)
        with tracer.start_as_current_span("caller") as root:
            reply = await stub.Submit(
                pb.SubmitRequest(submission=submission("An essay.", kind="essay"))
            )
        async with asyncio.timeout(60):
            async for info in stub.WatchSubmission(pb.WatchSubmissionRequest(id=reply.id)):
                if info.status == pb.COMPLETED:
                    break
    for process in services:  # SIGTERM: each sends the spans it still holds, then exits
        process.send_signal(signal.SIGTERM)
    for process in services:
        assert await asyncio.to_thread(process.wait, 30) == 0

    trace_id = format(root.get_span_context().trace_id, "032x")
    mine = {s.name: s for s in memory.get_finished_spans()}
    client = mine["/feedback_queue.v1.SubmissionService/Submit"]
    assert client.parent is not None
    assert client.parent.span_id == root.get_span_context().span_id
    theirs = [(service, s) for service, s in found.spans if hex_id(s.trace_id) == trace_id]
    by_name: dict[str, list[tuple[str, Any]]] = {}
    for service, span in theirs:
        by_name.setdefault(span.name, []).append((service, span))
    [(service, server)] = by_name["/feedback_queue.v1.SubmissionService/Submit"]
    assert service == "fbq-ingest"
    assert hex_id(server.parent_span_id) == format(client.context.span_id, "016x")
    attempts = sorted(by_name["fbq process essay"], key=lambda x: x[1].start_time_unix_nano)
    assert [svc for svc, _ in attempts] == ["fbq-worker", "fbq-worker"]
    for number, (_, span) in enumerate(attempts, 1):
        assert hex_id(span.parent_span_id) == hex_id(server.span_id)  # siblings
        attributes = {a.key: a.value for a in span.attributes}
        assert attributes["fbq.attempt"].int_value == number
        assert attributes["fbq.queue_wait_ms"].int_value >= 0
        assert attributes["messaging.message.id"].string_value == reply.id
    first, second = (span for _, span in attempts)
    assert first.status.code == 2  # ERROR: the busy model service
    assert second.status.code != 2
    [(_, work)] = by_name["grade essay"]
    assert hex_id(work.parent_span_id) == hex_id(second.span_id)


async def test_off_no_context_is_stored_and_the_record_is_unchanged(
    redis_server: EmbeddedRedis, queue_name: str
) -> None:
    from ingest_service.server import create_server  # noqa: PLC0415

    settings = Settings.from_env(
        {"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0", "FBQ_QUEUE": queue_name}
    )
    assert not settings.tracing.enabled
    ingest = create_server(settings, port=0)
    assert ingest.tracing is None
    await ingest.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest.port}") as channel:
            stub = pb_grpc.SubmissionServiceStub(channel)
            reply = await stub.Submit(pb.SubmitRequest(submission=submission("An essay.")))
        raw = await ingest.queue.client.get(f"{{fbq:{queue_name}}}:job:{reply.id}")  # type: ignore[attr-defined]
        record = decode(raw)
        assert record.trace == ""
        assert raw[0] == 0x10  # the plain format: no extras at all
    finally:
        await ingest.stop(0)


def test_tracing_asked_for_without_the_packages_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from feedback_queue import tracing  # noqa: PLC0415
    from feedback_queue.errors import ConfigError  # noqa: PLC0415

    monkeypatch.setattr(tracing, "_absent", lambda module: True)
    config = Settings.from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:4317"}).tracing
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set"):
        tracing.start(config, "fbq-ingest")
    off = Settings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}
    )
    assert not off.tracing.enabled
    assert tracing.start(off.tracing, "fbq-ingest") is None
