"""The embedded redis-server helper: start, durability across kill -9, clear failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback_queue.connection import create_client
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig
from feedback_queue.up.embedded import EmbeddedRedis, EmbeddedRedisError, find_server_binary
from tests.conftest import redis_settings
from tests.helpers import submission


async def test_acknowledged_jobs_survive_kill_9_with_aof(
    make_server: type[EmbeddedRedis],
) -> None:
    server = make_server(appendfsync="always")  # type: ignore[call-arg]
    client = create_client(redis_settings(server))
    ids = [
        (await Queue(client, QueueConfig(name="durable")).enqueue(submission(f"t{i}"))).id
        for i in range(50)
    ]
    await client.aclose()
    server.kill()
    server.restart()
    client = create_client(redis_settings(server))
    queue = Queue(client, QueueConfig(name="durable"))
    jobs = await queue.reserve("w1", count=100)
    await client.aclose()
    assert [j.id for j in jobs] == ids
    assert (server.data_dir / "redis.log").read_text().count("Ready to accept connections") == 2


def test_missing_configured_binary_is_named(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="REDIS_SERVER_BIN: no file at /nonexistent"):
        find_server_binary("/nonexistent/redis-server")


def test_a_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, extra_args=("--no-such-option", "1"))
    with pytest.raises(EmbeddedRedisError, match="did not start") as info:
        server.start()
    assert "no-such-option" in str(info.value)
