"""The real stack for gateway tests: Redis, ingest on a free port, the gateway served by a real
uvicorn server on another, and an HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from feedback_queue.credentials import Credentials
from feedback_queue.up.embedded import EmbeddedRedis
from gateway.app import create_app
from gateway.client import IngestClient
from tests.ingest.conftest import Ingest, StartIngest, start_ingest  # noqa: F401  (shared fixture)
from tests.secrets import secret

TOKEN = secret("admin-token-for-tests-3f9a")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Stack:
    ingest: Ingest | None
    http: httpx.AsyncClient
    base: str


StartStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def start_stack(start_ingest: StartIngest) -> AsyncIterator[StartStack]:  # noqa: F811
    servers: list[tuple[uvicorn.Server, asyncio.Task[None], httpx.AsyncClient]] = []

    async def start(
        redis: EmbeddedRedis | None = None,
        *,
        ingest_address: str | None = None,
        credentials: Credentials | None = None,
    ) -> Stack:
        ingest = None
        if ingest_address is None:
            ingest = await start_ingest(redis)
            ingest_address = f"127.0.0.1:{ingest.server.port}"
        client = IngestClient(ingest_address, deadline=3.0)
        app = create_app(client, token=TOKEN, credentials=credentials)
        # A socket that already listens: requests queue in its backlog until uvicorn serves.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        )
        task = asyncio.create_task(server.serve(sockets=[sock]))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        http = httpx.AsyncClient(base_url=base, timeout=10.0)
        servers.append((server, task, http))
        return Stack(ingest, http, base)

    yield start
    for server, task, http in servers:
        await http.aclose()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def stack(start_stack: StartStack) -> Stack:
    return await start_stack()
