"""Redis trouble becomes our errors, each naming the cause and the variable to check."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from feedback_queue.connection import create_client
from feedback_queue.errors import (
    QueueAuthError,
    QueueFull,
    QueueMisconfigured,
    QueueUnavailable,
    is_transient,
)
from feedback_queue.job import Status
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.conftest import redis_settings
from tests.helpers import submission
from tests.secrets import secret
from tests.security.certs import make_material
from tests.worker.test_redis_trouble import long_script


async def test_connection_refused() -> None:
    settings = RedisSettings(host="127.0.0.1", port=free_port(), connect_timeout=2)
    client = create_client(settings)
    queue = Queue(client, address=settings.address)
    with pytest.raises(QueueUnavailable, match=r"cannot reach Redis at redis://127\.0") as info:
        await queue.enqueue(submission())
    await client.aclose()
    assert "REDIS_URL" in str(info.value)
    assert info.value.__cause__ is None  # translated at the boundary, no redis-py chain


async def test_wrong_password_names_the_variables_not_the_secret(
    make_server: type[EmbeddedRedis],
) -> None:
    server = make_server(password=secret("right-horse-battery"))  # type: ignore[call-arg]
    settings = redis_settings(server, password=secret("wrong-staple-9"))
    client = create_client(settings)
    with pytest.raises(QueueAuthError, match="REDIS_PASSWORD") as info:
        await Queue(client, address=settings.address).enqueue(submission())
    await client.aclose()
    assert "wrong-staple-9" not in str(info.value)
    assert "right-horse-battery" not in str(info.value)


async def test_out_of_memory_accepts_nothing_and_recovers(
    make_server: type[EmbeddedRedis],
) -> None:
    server = make_server(  # type: ignore[call-arg]
        extra_args=("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    )
    client = create_client(redis_settings(server))
    queue = Queue(client, QueueConfig(name="oom"))
    acknowledged: list[str] = []

    async def fill() -> None:
        while len(acknowledged) < 100_000:
            acknowledged.append((await queue.enqueue(submission("x" * 4000))).id)

    with pytest.raises(QueueFull, match="out of memory"):
        await fill()
    accepted = len(acknowledged)
    assert accepted > 0
    stats = await queue.stats()
    assert stats.waiting == accepted == stats.enqueued_total  # nothing half-written
    # An admin deletes some (deleting works while full), and the queue takes work again.
    page = await queue.list_by_status(Status.WAITING, limit=accepted // 2)
    for job in page.jobs:
        await queue.delete(job.id)
    result = await queue.enqueue(submission("after"))
    assert (await queue.get(result.id)).submission.content == "after"
    await client.aclose()


@pytest.mark.parametrize(
    ("case", "variable", "says"),
    [
        ("a CA file that is not there", "REDIS_TLS_CA_CERT", "No such file or directory"),
        ("a CA file with no certificate", "REDIS_TLS_CA_CERT", "holds no usable CA certificate"),
        ("a key path that is a folder", "REDIS_TLS_KEY", "Is a directory"),
        ("a key of another certificate", "REDIS_TLS_CERT and REDIS_TLS_KEY", "private key"),
    ],
)
def test_tls_files_that_cannot_be_loaded_are_named_before_any_connection(
    tmp_path: Path, case: str, variable: str, says: str
) -> None:
    material = make_material(tmp_path)
    ca, key = str(material.ca.path), str(material.client.key)
    if case == "a CA file that is not there":
        ca = str(tmp_path / "missing.pem")
    elif case == "a CA file with no certificate":
        ca = str(material.client.key)  # a key where the CA certificate belongs
    elif case == "a key path that is a folder":
        key = str(tmp_path)
    else:
        key = str(material.stranger_client.key)
    settings = RedisSettings(
        host="127.0.0.1",
        port=free_port(),  # nothing listens: the error must come from the files
        tls=True,
        tls_ca_cert=ca,
        tls_cert=str(material.client.cert),
        tls_key=key,
    )
    with pytest.raises(QueueMisconfigured) as info:
        create_client(settings)
    message = str(info.value)
    assert message.startswith(f"{variable}"), (case, message)
    assert says in message, (case, message)


def test_tls_files_are_left_alone_without_tls(tmp_path: Path) -> None:
    settings = RedisSettings(
        host="127.0.0.1", port=free_port(), tls_ca_cert=str(tmp_path / "missing.pem")
    )
    assert create_client(settings) is not None  # REDIS_TLS_* are unused on redis://


async def test_a_busy_redis_is_transient(make_server: type[EmbeddedRedis]) -> None:
    server = make_server(appendonly=False, extra_args=("--busy-reply-threshold", "50"))  # type: ignore[call-arg]
    blocker, client = create_client(redis_settings(server)), create_client(redis_settings(server))
    queue = Queue(client, address=f"redis://127.0.0.1:{server.port}/0")
    script = asyncio.create_task(long_script(blocker))

    async def enqueue_while_the_script_runs() -> None:
        while not script.done():
            await queue.enqueue(submission())

    with pytest.raises(QueueUnavailable, match="busy running a script") as info:
        await asyncio.wait_for(enqueue_while_the_script_runs(), 10)
    assert is_transient(info.value)
    assert "SCRIPT KILL" in str(info.value)
    assert await script == 1
    await blocker.aclose()
    await client.aclose()


async def test_a_replica_without_its_master_is_transient(make_server: type[EmbeddedRedis]) -> None:
    server = make_server(  # type: ignore[call-arg]
        appendonly=False,
        extra_args=(
            "--replicaof",
            "127.0.0.1",
            str(free_port()),
            "--replica-serve-stale-data",
            "no",
        ),
    )
    client = create_client(redis_settings(server))
    with pytest.raises(QueueUnavailable, match="lost its master") as info:
        await Queue(client).enqueue(submission())
    assert is_transient(info.value)
    await client.aclose()


async def test_a_cluster_that_serves_no_slot_is_transient(make_server: type[EmbeddedRedis]) -> None:
    server = make_server(appendonly=False, extra_args=("--cluster-enabled", "yes"))  # type: ignore[call-arg]
    client = create_client(redis_settings(server))  # a plain client: it sees CLUSTERDOWN itself
    with pytest.raises(QueueUnavailable, match="cannot serve the queue's slot") as info:
        await Queue(client).enqueue(submission())
    assert is_transient(info.value)
    await client.aclose()


def test_what_waiting_cures() -> None:
    assert is_transient(QueueUnavailable("down"))
    assert not is_transient(QueueAuthError("NOPERM"))
    assert not is_transient(QueueMisconfigured("untrusted certificate"))
    assert not is_transient(QueueFull("out of memory"))
    assert not is_transient(RuntimeError("a bug"))
