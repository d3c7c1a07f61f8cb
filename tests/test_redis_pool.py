"""Ingest's Redis pool waits for a free connection, bounded (issue #21, finding 5): against a real
redis-server, many more concurrent commands than connections all succeed, and a wait past the
pool timeout is QueueUnavailable naming the variables."""

from __future__ import annotations

import asyncio

import pytest

from feedback_queue.connection import create_client, translated
from feedback_queue.errors import QueueUnavailable
from feedback_queue.up.embedded import EmbeddedRedis
from tests.conftest import redis_settings


async def test_more_commands_than_connections_wait_their_turn(redis_server: EmbeddedRedis) -> None:
    client = create_client(redis_settings(redis_server), max_connections=2, pool_timeout=5.0)
    try:
        # 20 commands that each hold a connection 100 ms: redis-py's default pool would raise
        # "Too many connections" for 18 of them.
        replies = await asyncio.gather(
            *(client.blpop([f"fbq-pool-test-{i}"], timeout=0.1) for i in range(20))
        )
        assert replies == [None] * 20
        pool = client.connection_pool
        made = len(pool._available_connections) + len(pool._in_use_connections)
        assert made <= 2
    finally:
        await client.aclose()


async def test_a_wait_past_the_pool_timeout_is_unavailable_and_names_the_variables(
    redis_server: EmbeddedRedis,
) -> None:
    client = create_client(redis_settings(redis_server), max_connections=2, pool_timeout=0.2)
    address = "redis://127.0.0.1"
    try:
        holders = [
            asyncio.ensure_future(client.blpop([f"fbq-hold-{i}"], timeout=1)) for i in (1, 2)
        ]
        await asyncio.sleep(0.05)
        with pytest.raises(QueueUnavailable) as waited:
            async with translated(address):
                await client.ping()
        await asyncio.gather(*holders)
    finally:
        await client.aclose()
    assert "FBQ_REDIS_MAX_CONNECTIONS" in str(waited.value)
    assert "FBQ_REDIS_POOL_TIMEOUT" in str(waited.value)
