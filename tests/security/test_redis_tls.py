"""Redis over TLS with the documented variables: the right material works; each wrong piece
fails with an error that names what to check, and never the password."""

from __future__ import annotations

import subprocess
import sys

import pytest

from feedback_queue import health
from feedback_queue.connection import create_client
from feedback_queue.errors import QueueAuthError, QueueError, QueueUnavailable
from feedback_queue.queue import Queue
from feedback_queue.settings import Settings
from tests.helpers import submission
from tests.secrets import seen
from tests.security.certs import Material
from tests.security.conftest import LIMITED_PASSWORD, LIMITED_USER, PASSWORD, rediss_env


def queue_for(environ: dict[str, str]) -> Queue:
    settings = Settings.from_env({**environ, "FBQ_QUEUE": "tls"})
    return Queue.from_settings(settings, create_client(settings.redis))


async def failure(environ: dict[str, str]) -> QueueError:
    queue = queue_for(environ)
    try:
        with pytest.raises(QueueError) as caught:
            await queue.enqueue(submission())
    finally:
        await queue.close()
    message = str(caught.value)
    seen(message)
    assert PASSWORD not in message
    return caught.value


async def test_the_right_material_connects_and_the_queue_works(
    tls_redis: int, material: Material
) -> None:
    queue = queue_for(rediss_env(tls_redis, material))
    try:
        accepted = await queue.enqueue(submission())
        assert (await queue.get(accepted.id)).id == accepted.id
        report = await health.check(queue)
        assert report.connected
    finally:
        await queue.close()


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("a CA that did not sign the server", {"REDIS_TLS_CA_CERT": "other_ca"}),
        ("no client certificate", {"REDIS_TLS_CERT": "", "REDIS_TLS_KEY": ""}),
        ("an expired client certificate", {"REDIS_TLS_CERT": "expired", "REDIS_TLS_KEY": "ek"}),
        ("a client certificate of another CA", {"REDIS_TLS_CERT": "sc", "REDIS_TLS_KEY": "sk"}),
    ],
)
async def test_wrong_tls_material_is_refused_with_the_variables_to_check(
    tls_redis: int, material: Material, case: str, change: dict[str, str]
) -> None:
    files = {
        "other_ca": str(material.other_ca.path),
        "expired": str(material.expired_client.cert),
        "ek": str(material.expired_client.key),
        "sc": str(material.stranger_client.cert),
        "sk": str(material.stranger_client.key),
        "": "",
    }
    environ = rediss_env(tls_redis, material, **{k: files[v] for k, v in change.items()})
    error = await failure(environ)
    assert isinstance(error, QueueUnavailable), case
    assert "REDIS_TLS_CA_CERT" in str(error), case


async def test_without_verification_any_server_certificate_is_taken(
    tls_redis: int, material: Material
) -> None:
    environ = rediss_env(
        tls_redis, material, REDIS_TLS_CA_CERT=str(material.other_ca.path), REDIS_TLS_VERIFY="0"
    )
    queue = queue_for(environ)
    try:
        await queue.ping()  # REDIS_TLS_VERIFY=false: encrypted, but not authenticated
    finally:
        await queue.close()


async def test_a_wrong_password_names_the_variables(tls_redis: int, material: Material) -> None:
    environ = rediss_env(tls_redis, material)
    environ["REDIS_URL"] = f"rediss://:not-{PASSWORD}@127.0.0.1:{tls_redis}/0"
    error = await failure(environ)
    assert isinstance(error, QueueAuthError)
    assert "REDIS_PASSWORD" in str(error)
    assert f"not-{PASSWORD}" not in str(error)


async def test_a_user_without_a_needed_permission_names_the_acl(
    tls_redis: int, material: Material
) -> None:
    environ = rediss_env(tls_redis, material)
    environ["REDIS_URL"] = f"rediss://{LIMITED_USER}:{LIMITED_PASSWORD}@127.0.0.1:{tls_redis}/0"
    queue = queue_for(environ)
    try:
        await queue.ping()  # the user may connect and look...
    finally:
        await queue.close()
    error = await failure(environ)  # ...but not run the queue's scripts
    assert isinstance(error, QueueAuthError)
    assert "REDIS_USERNAME" in str(error)
    assert LIMITED_PASSWORD not in str(error)


def test_a_service_with_the_wrong_ca_stops_at_start_with_the_cause(
    tls_redis: int, material: Material
) -> None:
    environ = rediss_env(tls_redis, material, REDIS_TLS_CA_CERT=str(material.other_ca.path))
    done = subprocess.run(
        [sys.executable, "-m", "feedback_queue.cli", "ingest"],
        env={
            **environ,
            "PATH": "/usr/bin:/bin",
            "FBQ_INGEST_HOST": "127.0.0.1",
            "FBQ_INGEST_PORT": "0",
            "FBQ_STARTUP_TIMEOUT": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    seen(done.stdout + done.stderr)
    assert done.returncode == 1
    assert "REDIS_TLS_CA_CERT" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_wrong_ca_ends_ingest_at_once_not_after_the_startup_timeout(
    tls_redis: int, material: Material
) -> None:
    environ = rediss_env(tls_redis, material, REDIS_TLS_CA_CERT=str(material.other_ca.path))
    # Patience of a minute, an answer within 20 s: only an error that ends start-up passes.
    done = subprocess.run(
        [sys.executable, "-m", "ingest_service"],
        env={
            **environ,
            "PATH": "/usr/bin:/bin",
            "FBQ_INGEST_HOST": "127.0.0.1",
            "FBQ_INGEST_PORT": "0",
            "FBQ_STARTUP_TIMEOUT": "60s",
        },
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    seen(done.stdout + done.stderr)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"fbq ingest: the certificate of Redis at rediss://127.0.0.1:{tls_redis}/0 failed "
        "verification (self-signed certificate in certificate chain)"
    ), last
    assert "REDIS_TLS_CA_CERT" in last
    assert PASSWORD not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
