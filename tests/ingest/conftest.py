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
from feedback_queue.settings import Settings
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
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


@pytest.fixture
async def start_ingest(redis_server: EmbeddedRedis) -> AsyncIterator[StartIngest]:
    """Start ingest servers with settings overrides; all are stopped afterwards."""
    started: list[Ingest] = []

    async def start(server: EmbeddedRedis | None = None, **overrides: object) -> Ingest:
        settings = dataclasses.replace(
            Settings(
                redis=redis_settings(server or redis_server),
                queue=f"t-{uuid.uuid4().hex[:10]}",
                health_interval=0.1,
                watch_interval=0.02,
                shutdown_grace=5.0,
            ),
            **overrides,  # type: ignore[arg-type]
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
