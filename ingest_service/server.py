"""Build the ingest gRPC server, then serve it until SIGTERM or SIGINT.

fbq ingest  |  python -m ingest_service      (port: FBQ_INGEST_PORT, default 50051)

With FBQ_INGEST_ADMIN_PORT set, a second server on that port serves AdminService (and
SubmissionService, for the gateway), and the main port serves SubmissionService alone: a
NetworkPolicy can then let only the gateway reach AdminService. Health is on both.
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
from feedback_queue.tracing import Tracing
from feedback_queue.tracing import start as start_tracing
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from ingest_service.admin import AdminServicer
from ingest_service.audit import AuditInterceptor
from ingest_service.auth import AuthInterceptor
from ingest_service.bounds import BoundsInterceptor
from ingest_service.decoding import DecodeErrorInterceptor
from ingest_service.submissions import SubmissionServicer

log = logging.getLogger(__name__)

SUBMISSION_SERVICE = pb.DESCRIPTOR.services_by_name["SubmissionService"].full_name
ADMIN_SERVICE = pb.DESCRIPTOR.services_by_name["AdminService"].full_name
SERVICE_NAMES = [SUBMISSION_SERVICE, ADMIN_SERVICE]


@dataclass
class IngestServer:
    """A built, not yet started, ingest server and what it owns."""

    server: grpc.aio.Server
    port: int
    queue: QueueApi
    health: HealthReporter
    settings: Settings
    credentials: Credentials
    # The AdminService server and its port, when FBQ_INGEST_ADMIN_PORT splits it off.
    admin_server: grpc.aio.Server | None = None
    admin_port: int | None = None
    tracing: Tracing | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def servers(self) -> list[grpc.aio.Server]:
        return [self.server] if self.admin_server is None else [self.server, self.admin_server]

    async def start(self) -> None:
        await self.health.check_once()
        for server in self.servers:
            await server.start()
        self._tasks.append(asyncio.create_task(self.health.run()))
        log.info(
            "ingest serving queue %s on :%d, AdminService on :%d (Redis %s, %d principals)",
            self.queue.name,
            self.port,
            self.port if self.admin_port is None else self.admin_port,
            self.settings.redis.address,
            len(self.credentials.names),
        )
        _warn_about_credentials(self.settings, self.credentials)

    async def stop(self, grace: float | None = None) -> None:
        """Health to NOT_SERVING, refuse new calls, let running ones finish within `grace`."""
        await self.health.shutdown()
        grace = self.settings.shutdown_grace if grace is None else grace
        await asyncio.gather(*(server.stop(grace) for server in self.servers))
        if self._tasks:  # the health loop ends by itself once shutdown() was called
            await asyncio.wait(self._tasks, timeout=5.0)
        await self.queue.close()
        if self.tracing is not None:
            self.tracing.shutdown()  # sends the spans still batched


def create_server(
    settings: Settings,
    *,
    client: Redis | None = None,
    port: int | None = None,
    admin_port: int | None = None,
    queue: QueueApi | None = None,
) -> IngestServer:
    """Build the server on `port` (default: settings.ingest_port; 0 picks a free one).

    AdminService gets its own server on `admin_port` (default: settings.ingest_admin_port; 0
    picks a free one) when either is set, else it shares `port`. It serves `queue` when given,
    else a queue on `client` or on a new one.
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
    tracing = start_tracing(settings.tracing, "fbq-ingest")
    if tracing is not None:  # first: a refused call has its span too
        interceptors[:0] = tracing.server_interceptors()
    submissions = SubmissionServicer(
        queue,
        watch_interval=settings.watch_interval,
        max_batch=settings.max_batch,
        max_stream_request=settings.queue.limits.max_content_bytes + MESSAGE_OVERHEAD,
        read_ahead_bytes=settings.bounds.stream_read_ahead_bytes,
        tracing=tracing,
    )
    admin = AdminServicer(queue, cpu_warning=settings.redis_cpu_warning)
    admin_port = settings.ingest_admin_port if admin_port is None else admin_port
    split = admin_port is not None

    def build(address: str, *, with_admin: bool) -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(
            interceptors=interceptors,
            options=server_options(
                settings.queue.limits.max_content_bytes,
                settings.max_batch_bytes,
                settings.bounds.max_result_bytes,
            ),
        )
        services = [SUBMISSION_SERVICE]
        pb_grpc.add_SubmissionServiceServicer_to_server(submissions, server)
        if with_admin:
            services.append(ADMIN_SERVICE)
            pb_grpc.add_AdminServiceServicer_to_server(admin, server)
        health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
        if settings.reflection:
            reflection.enable_server_reflection(
                [
                    *services,
                    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                    reflection.SERVICE_NAME,
                ],
                server,
            )
        return server, tls.add_port(server, address, settings.tls)

    main_port = settings.ingest_port if port is None else port
    server, bound = build(bind_address(settings.ingest_host, main_port), with_admin=not split)
    ingest = IngestServer(server, bound, queue, health, settings, credentials, tracing=tracing)
    if admin_port is not None:
        address = bind_address(settings.ingest_host, admin_port)
        ingest.admin_server, ingest.admin_port = build(address, with_admin=True)
    return ingest


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
