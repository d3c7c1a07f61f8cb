"""Build the ingest gRPC server, then serve it until SIGTERM or SIGINT.

fbq ingest  |  python -m ingest_service      (port: FBQ_INGEST_PORT, default 50051)
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from redis.asyncio import Redis

from feedback_queue import exposure, logs, tls
from feedback_queue.connection import create_client
from feedback_queue.credentials import Credentials
from feedback_queue.errors import ConfigError, QueueError
from feedback_queue.loop import run_loop
from feedback_queue.queue import Queue
from feedback_queue.rpc import MESSAGE_OVERHEAD, HealthReporter, server_options
from feedback_queue.settings import Settings, bind_address
from feedback_queue.sharded import QueueApi, ShardedQueue
from feedback_queue.startup import require_redis
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from ingest_service.admin import AdminServicer
from ingest_service.audit import AuditInterceptor
from ingest_service.auth import AuthInterceptor
from ingest_service.bounds import BoundsInterceptor
from ingest_service.decoding import DecodeErrorInterceptor
from ingest_service.submissions import SubmissionServicer

log = logging.getLogger(__name__)

SERVICE_NAMES = [
    pb.DESCRIPTOR.services_by_name["SubmissionService"].full_name,
    pb.DESCRIPTOR.services_by_name["AdminService"].full_name,
]


@dataclass
class IngestServer:
    """A built, not yet started, ingest server and what it owns."""

    server: grpc.aio.Server
    port: int
    queue: QueueApi
    health: HealthReporter
    settings: Settings
    credentials: Credentials
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        await self.health.check_once()
        await self.server.start()
        self._tasks.append(asyncio.create_task(self.health.run()))
        log.info(
            "ingest serving queue %s on :%d (Redis %s, %d principals)",
            self.queue.name,
            self.port,
            self.settings.redis.address,
            len(self.credentials.names),
        )
        _warn_about_credentials(self.settings, self.credentials)

    async def stop(self, grace: float | None = None) -> None:
        """Health to NOT_SERVING, refuse new calls, let running ones finish within `grace`."""
        await self.health.shutdown()
        await self.server.stop(self.settings.shutdown_grace if grace is None else grace)
        if self._tasks:  # the health loop ends by itself once shutdown() was called
            await asyncio.wait(self._tasks, timeout=5.0)
        await self.queue.close()


def create_server(
    settings: Settings,
    *,
    client: Redis | None = None,
    port: int | None = None,
    queue: QueueApi | None = None,
) -> IngestServer:
    """Build the server on `port` (default: settings.ingest_port; 0 picks a free one).

    It serves `queue` when given, else a queue on `client` or on a new one.
    """
    if queue is None:
        # A pool that waits for a free connection (bounded) instead of failing at once when
        # every one is in use (issue #21, finding 5).
        client = client or create_client(
            settings.redis,
            max_connections=settings.bounds.redis_max_connections,
            pool_timeout=settings.bounds.redis_pool_timeout,
        )
        queue = (
            ShardedQueue.from_settings(settings, client)
            if settings.queue.shards > 1
            else Queue.from_settings(settings, client)
        )
    # Loaded once, here: a malformed file stops the start with its line number.
    credentials = Credentials.of(settings.credentials_file, settings.grpc_token)
    health = HealthReporter(queue.ping, SERVICE_NAMES, settings.health_interval)
    # Auth first: a refused call is logged as refused, not audited as an action.
    # Caps after auth, which tells who calls (identity.py), and before everything that works.
    interceptors: list[grpc.aio.ServerInterceptor[Any, Any]] = [
        BoundsInterceptor(settings.bounds),
        AuditInterceptor(),
        DecodeErrorInterceptor(),
    ]
    if credentials:
        certificates = settings.tls.client_ca is not None
        interceptors.insert(0, AuthInterceptor(credentials, certificates=certificates))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=server_options(
            settings.queue.limits.max_content_bytes,
            settings.max_batch_bytes,
            settings.bounds.max_result_bytes,
        ),
    )
    pb_grpc.add_SubmissionServiceServicer_to_server(
        SubmissionServicer(
            queue,
            watch_interval=settings.watch_interval,
            max_batch=settings.max_batch,
            max_stream_request=settings.queue.limits.max_content_bytes + MESSAGE_OVERHEAD,
            read_ahead_bytes=settings.bounds.stream_read_ahead_bytes,
        ),
        server,
    )
    pb_grpc.add_AdminServiceServicer_to_server(AdminServicer(queue), server)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    if settings.reflection:
        reflection.enable_server_reflection(
            [
                *SERVICE_NAMES,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
    address = bind_address(settings.ingest_host, settings.ingest_port if port is None else port)
    bound = tls.add_port(server, address, settings.tls)
    return IngestServer(server, bound, queue, health, settings, credentials)


def _warn_about_credentials(settings: Settings, credentials: Credentials) -> None:
    if settings.grpc_token:
        log.warning(
            "FBQ_GRPC_TOKEN is an admin credential (principal admin): every producer that "
            "shares it may list, read, delete and pause; give producers their own "
            "(fbq credentials add NAME --role producer, FBQ_CREDENTIALS_FILE)"
        )
    if not credentials and not settings.tls.client_ca:
        log.warning("ingest has no credentials: every caller is admin (principal anonymous)")


async def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    exposure.check_ingest(settings)
    ingest = create_server(settings)
    await require_redis(ingest.queue, settings.startup_timeout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await ingest.start()
    await stop.wait()
    log.info("shutting down: finishing in-flight calls (grace %.0fs)", settings.shutdown_grace)
    await ingest.stop()
    log.info("stopped")


def run(settings: Settings) -> None:
    """Serve until stopped (`fbq ingest`, `python -m ingest_service`)."""
    logs.configure(settings.log_level, settings.secrets())
    try:
        run_loop(serve(settings))
    except (QueueError, ConfigError) as exc:
        sys.exit(f"fbq ingest: {exc}")
