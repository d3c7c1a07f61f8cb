"""An ingest server on a free port over a real gRPC channel, against the tests' Redis."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2_grpc

from feedback_queue.connection import create_client
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, Settings, WorkerConfig
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from feedback_queue.validation import Limits
from ingest_service.server import IngestServer, create_server
from tests.conftest import redis_settings


@dataclasses.dataclass
class Ingest:
    server: IngestServer
    channel: grpc.aio.Channel
    submissions: pb_grpc.SubmissionServiceAsyncStub
    admin: pb_grpc.AdminServiceAsyncStub
    health: health_pb2_grpc.HealthStub

    @property
    def queue(self) -> Queue:
        assert isinstance(self.server.queue, Queue)  # these tests serve one plain queue
        return self.server.queue


StartIngest = Callable[..., Awaitable[Ingest]]


def with_overrides(settings: Settings, **overrides: object) -> Settings:
    """`settings` with fields replaced by name, wherever they live: a queue's (`queue` is its
    name), its limits (max_content_bytes, kinds), or the settings' own."""
    queue: dict[str, object] = {}
    limits: dict[str, object] = {}
    for name in list(overrides):
        if name == "queue":
            queue["name"] = overrides.pop(name)
        elif name in {f.name for f in dataclasses.fields(Limits)}:
            limits[name] = overrides.pop(name)
        elif name in {f.name for f in dataclasses.fields(QueueConfig)}:
            queue[name] = overrides.pop(name)
    if limits:
        queue["limits"] = dataclasses.replace(settings.queue.limits, **limits)  # type: ignore[arg-type]
    return dataclasses.replace(
        settings,
        queue=dataclasses.replace(settings.queue, **queue),  # type: ignore[arg-type]
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
async def start_ingest(redis_server: EmbeddedRedis) -> AsyncIterator[StartIngest]:
    """Start ingest servers with settings overrides; all are stopped afterwards."""
    started: list[Ingest] = []

    async def start(server: EmbeddedRedis | None = None, **overrides: object) -> Ingest:
        settings = with_overrides(
            Settings(
                redis=redis_settings(server or redis_server),
                queue=QueueConfig(name=f"t-{uuid.uuid4().hex[:10]}"),
                worker=WorkerConfig(shutdown_grace=5.0),
                health_interval=0.1,
                watch_interval=0.02,
            ),
            **overrides,
        )
        ingest = create_server(settings, client=create_client(settings.redis), port=0)
        await ingest.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{ingest.port}")
        handle = Ingest(
            ingest,
            channel,
            pb_grpc.SubmissionServiceStub(channel),
            pb_grpc.AdminServiceStub(channel),
            health_pb2_grpc.HealthStub(channel),
        )
        started.append(handle)
        return handle

    yield start
    for handle in started:
        await handle.channel.close(grace=None)
        await handle.server.stop(grace=0)


@pytest.fixture
async def ingest(start_ingest: StartIngest) -> Ingest:
    return await start_ingest()
