"""Every call has a deadline: the client's, or the call's own; watch and wait have theirs.

The silent peer is a real TCP listener that accepts connections and never says a word (a
frozen or partitioned ingest): no answer ever comes, only the deadline ends the call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from feedback_queue.client import NO_RETRIES, AsyncClient, Client, DeadlineExceeded, Status
from tests.ingest.conftest import Ingest


@pytest.fixture
async def silent_peer() -> AsyncIterator[str]:
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never answered, never closed until the test ends

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_the_clients_timeout_and_a_calls_own(silent_peer: str) -> None:
    async with AsyncClient(silent_peer, timeout=0.3, retry=NO_RETRIES) as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded) as info:
            await client.stats()
        assert 0.25 < time.monotonic() - start < 5
        assert str(info.value) == (
            f"ingest at {silent_peer} did not answer in time (raise the timeout)"
        )
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await client.submit("text", "s1", timeout=0.1)
        assert time.monotonic() - start < 0.3 + 5
        with pytest.raises(DeadlineExceeded):  # the first state, within the client's timeout
            await anext(client.watch("AAAAAAAAAAAA"))


async def test_the_sync_clients_deadline(silent_peer: str) -> None:
    def call() -> None:
        with Client(silent_peer, timeout=0.2) as client, pytest.raises(DeadlineExceeded):
            client.get("AAAAAAAAAAAA")

    await asyncio.to_thread(call)


async def test_wait_gives_up_after_its_timeout(aclient: AsyncClient, ingest: Ingest) -> None:
    job = await aclient.submit("No worker runs this.", "s1")
    with pytest.raises(DeadlineExceeded) as info:
        await aclient.wait(job.id, timeout=0.3)
    assert str(info.value) == f"submission {job.id} was not final within 0.3s"
    assert (await aclient.get(job.id)).status == Status.WAITING
