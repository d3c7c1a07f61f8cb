"""Fixtures for the deploy/ tests: a real redis-server run with deploy/redis/redis.conf and the ACL
rendered from deploy/redis/users.acl by deploy/redis/render-acl.sh, as the Kubernetes init
container does.

Only what cannot be the same here is overridden: the port (a free one), the bind address
(loopback), the data folder (`dir`, a temporary one) and the ACL file's path. The test also
appends one user of its own, `fbq-test-root`, to watch the server (MONITOR, CLIENT LIST, ACL
GETUSER); no role under test is that user.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis

from feedback_queue.connection import create_client
from feedback_queue.settings import Settings
from feedback_queue.up.embedded import EmbeddedRedis, find_server_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
REDIS_CONF = DEPLOY / "redis" / "redis.conf"
ACL_TEMPLATE = DEPLOY / "redis" / "users.acl"
RENDER_ACL = DEPLOY / "redis" / "render-acl.sh"
ROLES = ("ingest", "worker", "admin")
TEST_ROOT = "fbq-test-root"


def render_acl(secrets_dir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Run deploy/redis/render-acl.sh as the init container does."""
    return subprocess.run(
        ["sh", str(RENDER_ACL), str(ACL_TEMPLATE), str(secrets_dir), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )


def write_passwords(folder: Path) -> dict[str, str]:
    """One strong password per role, written as the mounted Secret's files."""
    folder.mkdir(parents=True, exist_ok=True)
    passwords = {role: secrets.token_urlsafe(24) for role in ROLES}
    for role, password in passwords.items():
        (folder / f"{role}-password").write_text(password)
    return passwords


def conf_for_test(data_dir: Path) -> Path:
    """deploy/redis/redis.conf with only its `dir` line pointing at `data_dir`.

    `dir` is applied while the file is read, before command-line options, so it cannot be
    overridden on the command line when /data does not exist here.
    """
    text = REDIS_CONF.read_text()
    assert text.count("\ndir /data\n") == 1, "redis.conf should set `dir /data` once"
    path = data_dir / "redis.conf"
    path.write_text(text.replace("\ndir /data\n", f"\ndir {data_dir}\n"))
    return path


@dataclass
class ConfiguredRedis(EmbeddedRedis):
    """A redis-server started with our redis.conf and a rendered ACL file."""

    conf: Path = field(default_factory=Path)
    aclfile: Path = field(default_factory=Path)

    def command(self) -> list[str]:
        return [
            find_server_binary(self.binary),
            str(self.conf),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--aclfile",
            str(self.aclfile),
        ]


@dataclass
class AclServer:
    """The running server and the passwords of its users."""

    server: ConfiguredRedis
    passwords: dict[str, str]
    root_password: str = field(repr=False)

    @property
    def port(self) -> int:
        return self.server.port

    def settings(self, role: str, **env: str) -> Settings:
        """The settings a service of `role` gets from its manifest's environment."""
        return Settings.from_env(
            {
                "REDIS_HOST": "127.0.0.1",
                "REDIS_PORT": str(self.port),
                "REDIS_USERNAME": f"fbq-{role}",
                "REDIS_PASSWORD": self.passwords[role],
                **env,
            }
        )

    def client(self, role: str) -> Redis:
        return create_client(self.settings(role).redis)

    def root(self) -> Redis:
        return Redis(
            host="127.0.0.1", port=self.port, username=TEST_ROOT, password=self.root_password
        )


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclServer]:
    folder = tmp_path_factory.mktemp("acl-redis")
    passwords = write_passwords(folder / "secret")
    aclfile = folder / "run" / "users.acl"
    aclfile.parent.mkdir()
    rendered = render_acl(folder / "secret", aclfile)
    assert rendered.returncode == 0, rendered.stderr
    root_password = secrets.token_urlsafe(24)
    with aclfile.open("a") as acl:
        acl.write(f"user {TEST_ROOT} on >{root_password} ~* &* +@all\n")
    data = folder / "data"
    data.mkdir()
    server = ConfiguredRedis(
        data,
        binary=Settings.from_env(os.environ).redis_server_bin,
        conf=conf_for_test(data),
        aclfile=aclfile,
    )
    with server:
        yield AclServer(server, passwords, root_password)


@pytest.fixture
async def root(acl_server: AclServer) -> AsyncIterator[Redis]:
    client = acl_server.root()
    yield client
    await client.aclose()
