"""Fixtures: a real redis-server started by the tests themselves, never the machine's own.

Every queue rule is written once, in the Lua scripts, so every queue test runs against Redis.
"""

from __future__ import annotations

import logging
import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from feedback_queue.backoff import Backoff
from feedback_queue.connection import create_client
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, RedisSettings, Settings
from feedback_queue.up.embedded import EmbeddedRedis
from tests.secrets import Collector


class FakeClock:
    """A clock the test moves by hand: heartbeats and backoffs age without sleeping."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def server_binary() -> str | None:
    return Settings.from_env(os.environ).redis_server_bin


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One Redis for the session; tests keep apart by using their own queue names."""
    server = EmbeddedRedis(
        tmp_path_factory.mktemp("redis"),
        binary=server_binary(),
        appendonly=False,
        extra_args=("--save", ""),
    )
    with server:
        yield server


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[type[EmbeddedRedis]]:
    """Start extra servers (for restarts, kills, odd configs); all are stopped afterwards."""
    started: list[EmbeddedRedis] = []

    def make(**kwargs: object) -> EmbeddedRedis:
        kwargs.setdefault("binary", server_binary())
        kwargs.setdefault("data_dir", tmp_path / f"redis-{len(started)}")
        server = EmbeddedRedis(**kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server.start()

    yield make  # type: ignore[misc]
    for server in started:
        server.kill()


def redis_settings(server: EmbeddedRedis, **kwargs: object) -> RedisSettings:
    return RedisSettings(host="127.0.0.1", port=server.port, configured=True, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def client(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    redis = create_client(redis_settings(redis_server))
    yield redis
    await redis.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue_name() -> str:
    """A queue of the test's own on the shared Redis."""
    return f"t-{uuid.uuid4().hex[:10]}"


LAST = "tests/test_no_secret_in_logs.py"


def pytest_configure(config: pytest.Config) -> None:
    """Keep every INFO and louder record of the session for the secrets check."""
    root = logging.getLogger()
    root.addHandler(Collector())
    root.setLevel(min(root.level, logging.INFO))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The secrets check runs after every other test has logged what it logs."""
    items.sort(key=lambda item: item.nodeid.startswith(LAST))


# What the queue tests assume: three attempts, a seeded backoff, an hour's
# retention and the test's clock.
MAX_ATTEMPTS, RETENTION = 3, 3600.0


def seeded_backoff() -> Backoff:
    return Backoff(base=1.0, cap=60.0, rng=random.Random(7))


@pytest.fixture
def queue(client: Redis, clock: FakeClock, queue_name: str) -> Queue:
    """A queue of the test's own on the tests' Redis."""
    config = QueueConfig(
        name=queue_name, max_attempts=MAX_ATTEMPTS, backoff=seeded_backoff(), retention=RETENTION
    )
    return Queue(client, config, address="test-redis", clock=clock)


@pytest.fixture
def redis_queue(queue: Queue) -> Queue:
    """The same queue, by the name the tests of Redis's own keys and TTLs use."""
    return queue
