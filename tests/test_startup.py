"""A service given a Redis address never runs without it: it says why and exits."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from feedback_queue.connection import create_client
from feedback_queue.errors import QueueAuthError, QueueMisconfigured, QueueUnavailable
from feedback_queue.queue import Queue
from feedback_queue.settings import RedisSettings
from feedback_queue.startup import require_redis
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.conftest import FakeClock, redis_settings
from tests.secrets import secret
from tests.security.certs import make_material

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


STARTUP_LOGGER = "feedback_queue.startup"


def startup_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    """What require_redis logged: (level, message) in order."""
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == STARTUP_LOGGER]


async def test_the_first_failure_is_logged_at_once_and_the_retries_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=STARTUP_LOGGER)
    clock = FakeClock(0.0)
    logged_at_first_wait: list[list[tuple[int, str]]] = []

    async def sleep(seconds: float) -> None:
        logged_at_first_wait.append(startup_lines(caplog))
        clock.advance(seconds)

    settings = RedisSettings(host="127.0.0.1", port=free_port(), connect_timeout=1)
    client = create_client(settings)
    with pytest.raises(QueueUnavailable):
        await require_redis(
            Queue(client, address=settings.address), 3.0, sleep=sleep, monotonic=clock
        )
    await client.aclose()
    assert len(logged_at_first_wait) == 6
    # Before the first wait, the cause is already in the log...
    [(level, message)] = logged_at_first_wait[0]
    assert level == logging.WARNING
    assert "cannot reach Redis at redis://127.0.0.1" in message
    assert "REDIS_URL" in message
    assert "\n" not in message
    # ...and the five retries after it add nothing.
    assert startup_lines(caplog) == [(level, message)]


async def test_a_redis_that_comes_up_while_waiting_is_taken(
    make_server: type[EmbeddedRedis], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=STARTUP_LOGGER)
    port = free_port()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            make_server(port=port)  # type: ignore[call-arg]

    client = create_client(RedisSettings(host="127.0.0.1", port=port, connect_timeout=1))
    await require_redis(Queue(client), 30.0, sleep=sleep)
    await client.aclose()
    assert waits == [0.5, 0.5]
    levels = [level for level, _ in startup_lines(caplog)]
    assert levels == [logging.WARNING, logging.INFO]
    assert startup_lines(caplog)[1][1].startswith("Redis answers after")


async def test_a_user_without_permission_to_ping_ends_it_at_once(
    make_server: type[EmbeddedRedis],
) -> None:
    server = make_server()  # type: ignore[call-arg]
    admin = redis.Redis(host="127.0.0.1", port=server.port)
    admin.acl_setuser(
        "mute", enabled=True, passwords=[f"+{secret('mute-pass-31')}"], commands=["+info"]
    )
    admin.close()
    client = create_client(redis_settings(server, username="mute", password=secret("mute-pass-31")))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with pytest.raises(QueueAuthError, match="ACL of REDIS_USERNAME") as info:
        await require_redis(Queue(client), 30.0, sleep=sleep)
    await client.aclose()
    assert waits == []
    assert "mute-pass-31" not in str(info.value)


async def test_an_untrusted_server_certificate_ends_it_at_once(
    make_server: type[EmbeddedRedis], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    material = make_material(tmp_path)
    port = free_port()
    make_server(  # type: ignore[call-arg]
        port=port,
        appendonly=False,
        extra_args=(
            "--port", "0",
            "--tls-port", str(port),
            "--tls-cert-file", str(material.server.cert),
            "--tls-key-file", str(material.server.key),
            "--tls-ca-cert-file", str(material.ca.path),
        ),
    )  # fmt: skip
    settings = RedisSettings(
        host="127.0.0.1",
        port=port,
        tls=True,
        tls_ca_cert=str(material.other_ca.path),
        tls_cert=str(material.client.cert),
        tls_key=str(material.client.key),
    )
    client = create_client(settings)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with pytest.raises(QueueMisconfigured) as info:
        await require_redis(Queue(client, address=settings.address), 30.0, sleep=sleep)
    await client.aclose()
    assert waits == []
    message = str(info.value)
    assert message.startswith(f"the certificate of Redis at rediss://127.0.0.1:{port}/0 failed")
    assert "REDIS_TLS_CA_CERT" in message
    assert "self-signed certificate in certificate chain" in message


@pytest.mark.parametrize("module", ["ingest_service", "worker_service"])
async def test_services_exit_with_the_cause(module: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://user:secret-pw-42@127.0.0.1:{port}/0",
        "FBQ_STARTUP_TIMEOUT": "1s",
        "FBQ_INGEST_HOST": "127.0.0.1",
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
