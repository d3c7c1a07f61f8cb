"""The health reporter's log tells an operator about outages, and nothing misleading at start."""

from __future__ import annotations

import logging

import pytest

from feedback_queue.connection import create_client
from feedback_queue.errors import QueueUnavailable
from feedback_queue.queue import Queue
from feedback_queue.rpc import STARTUP_CHECKS, HealthReporter
from feedback_queue.settings import RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.conftest import redis_settings

LOGGER = "feedback_queue.rpc"


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    """What the reporter logged: (level, message) in order."""
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


async def test_a_worker_that_registers_after_its_first_check_is_just_ready(
    redis_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = create_client(redis_settings(redis_server))
    queue = Queue(client)
    registered = False

    async def ready() -> None:  # the worker's readiness (worker_service/server.py)
        await queue.ping()
        if not registered:
            raise QueueUnavailable("the worker has not registered yet")

    health = HealthReporter(ready, [], 2.0)
    assert await health.check_once() is False
    registered = True
    assert await health.check_once() is True
    assert await health.check_once() is True
    await client.aclose()
    assert lines(caplog) == [(logging.INFO, "ready: Redis answers")]


async def test_an_outage_after_ready_is_reported_once_and_its_end_too(
    make_server: type[EmbeddedRedis], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    server = make_server(appendonly=False)  # type: ignore[call-arg]
    client = create_client(redis_settings(server, connect_timeout=1))
    queue = Queue(client, address=f"redis://127.0.0.1:{server.port}/0")
    health = HealthReporter(queue.ping, [], 2.0)
    assert await health.check_once() is True
    server.stop()
    assert await health.check_once() is False
    assert await health.check_once() is False  # still down: no second line
    server.restart()
    assert await health.check_once() is True
    await client.aclose()
    [ready, down, again] = lines(caplog)
    assert ready == (logging.INFO, "ready: Redis answers")
    assert down[0] == logging.WARNING
    assert down[1].startswith(f"not ready: cannot reach Redis at redis://127.0.0.1:{server.port}")
    assert again == (logging.INFO, "ready again: Redis answers")


async def test_a_start_that_never_gets_ready_is_reported_after_a_few_checks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    settings = RedisSettings(host="127.0.0.1", port=free_port(), connect_timeout=1)
    client = create_client(settings)
    health = HealthReporter(Queue(client, address=settings.address).ping, [], 2.0)
    for _ in range(STARTUP_CHECKS + 2):
        assert await health.check_once() is False
    await client.aclose()
    levels = [level for level, _ in lines(caplog)]
    assert (
        levels == [logging.DEBUG] * (STARTUP_CHECKS - 1) + [logging.WARNING] + [logging.DEBUG] * 2
    )
    warning = lines(caplog)[STARTUP_CHECKS - 1][1]
    assert warning.startswith("not ready since start-up")
    assert "cannot reach Redis" in warning
