"""Fixtures: a real redis-server started by the tests themselves, never the machine's own.

The `queue` fixture runs a test on both backends, Redis and the in-memory fallback, so the two
keep the same behaviour. Tests of what only Redis has (its keys and TTLs, its scripts, other
processes on the same Redis) take `redis_queue`, or stay on Redis by themselves: a test that
reaches the tests' Redis by another fixture besides `queue` gets the Redis backend only.
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
from feedback_queue.embedded import EmbeddedRedis
from feedback_queue.memory import MemoryQueue
from feedback_queue.queue import Queue
from feedback_queue.settings import RedisSettings, Settings
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


BACKENDS = ["redis", "memory"]


LAST = "tests/test_no_secret_in_logs.py"


def pytest_configure(config: pytest.Config) -> None:
    """Keep every INFO and louder record of the session for the secrets check."""
    root = logging.getLogger()
    root.addHandler(Collector())
    root.setLevel(min(root.level, logging.INFO))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The secrets check runs after every other test has logged what it logs."""
    items.sort(key=lambda item: item.nodeid.startswith(LAST))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # `queue` asks for the Redis server only on its Redis side (getfixturevalue), so the server
    # in a test's fixture closure means something else of the test needs that Redis too.
    if "queue" in metafunc.fixturenames and "redis_server" not in metafunc.fixturenames:
        metafunc.parametrize("queue", BACKENDS, indirect=True)


# What the queue tests assume of either backend: three attempts, a seeded backoff, an hour's
# retention and the test's clock.
MAX_ATTEMPTS, RETENTION = 3, 3600.0


def seeded_backoff() -> Backoff:
    return Backoff(base=1.0, cap=60.0, rng=random.Random(7))


@pytest.fixture
def redis_queue(client: Redis, clock: FakeClock, queue_name: str) -> Queue:
    """A queue on the tests' Redis, for tests of what only Redis has."""
    return Queue(
        client,
        name=queue_name,
        address="test-redis",
        max_attempts=MAX_ATTEMPTS,
        backoff=seeded_backoff(),
        retention=RETENTION,
        clock=clock,
    )


@pytest.fixture
def memory_queue(clock: FakeClock, queue_name: str) -> MemoryQueue:
    return MemoryQueue(
        name=queue_name,
        max_attempts=MAX_ATTEMPTS,
        backoff=seeded_backoff(),
        retention=RETENTION,
        clock=clock,
    )


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> Queue:
    """The queue under test: Redis, or memory where parametrized (see pytest_generate_tests)."""
    backend = getattr(request, "param", "redis")
    queue: Queue = request.getfixturevalue(f"{backend}_queue")
    return queue
