"""A service given a Redis address never runs without it: it says why and exits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from feedback_queue.connection import create_client
from feedback_queue.errors import QueueAuthError, QueueUnavailable
from feedback_queue.queue import Queue
from feedback_queue.settings import RedisSettings
from feedback_queue.startup import require_redis
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.conftest import FakeClock, redis_settings
from tests.secrets import secret

ROOT = Path(__file__).resolve().parent.parent


async def test_gives_up_after_its_patience_without_real_waiting() -> None:
    clock = FakeClock(0.0)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    client = create_client(RedisSettings(host="127.0.0.1", port=free_port(), connect_timeout=1))
    with pytest.raises(QueueUnavailable, match="cannot reach Redis"):
        await require_redis(Queue(client), 3.0, sleep=sleep, monotonic=clock)
    await client.aclose()
    assert waits == [0.5] * 6


async def test_refused_credentials_end_it_at_once(make_server: type[EmbeddedRedis]) -> None:
    server = make_server(password=secret("the-right-one"))  # type: ignore[call-arg]
    client = create_client(redis_settings(server, password=secret("a-wrong-one")))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with pytest.raises(QueueAuthError, match="REDIS_PASSWORD"):
        await require_redis(Queue(client), 30.0, sleep=sleep)
    await client.aclose()
    assert waits == []


@pytest.mark.parametrize("module", ["ingest_service", "worker_service"])
async def test_services_exit_with_the_cause(module: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://user:secret-pw-42@127.0.0.1:{port}/0",
        "FBQ_STARTUP_TIMEOUT": "1s",
        "FBQ_INGEST_PORT": "0",
        "FBQ_WORKER_HEALTH_PORT": "0",
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", module],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"fbq {module.split('_', maxsplit=1)[0]}: cannot reach Redis at redis://127.0.0.1"
    )
    assert "REDIS_URL" in last
    assert "secret-pw-42" not in result.stderr + result.stdout
