"""The Redis pod holds no password, and redis.conf bounds a client that stops reading (#21,
finding 12), on a real redis-server started with deploy/redis/redis.conf and the rendered ACL.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import socket
import subprocess

import pytest
import redis.exceptions as rex
from redis.asyncio import Redis

from tests.deploy.conftest import AclServer
from tests.deploy.kustomize import build, containers
from tests.deploy.test_k8s import BASE, by_kind

MiB = 1024 * 1024


def _probe_commands() -> list[str]:
    redis = by_kind(build(BASE), "StatefulSet")["redis"]
    [server] = [c for c in containers(redis) if c["name"] == "redis"]
    commands = []
    for probe in ("startupProbe", "readinessProbe"):
        sh, flag, script = server[probe]["exec"]["command"]
        assert (sh, flag) == ("sh", "-c")
        commands.append(script)
    return commands


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli not here")
def test_the_pods_probes_pass_without_any_password(acl_server: AclServer) -> None:
    for script in _probe_commands():
        assert "secret" not in script
        assert "AUTH" not in script
        # The pod's own command, pointed at the test server's port instead of 6379.
        here = script.replace("redis-cli ", f"redis-cli -h 127.0.0.1 -p {acl_server.port} ", 1)
        result = subprocess.run(
            ["sh", "-c", here], check=False, capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, (shlex.quote(here), result.stderr)


async def test_the_probe_user_may_ping_and_nothing_else(acl_server: AclServer) -> None:
    probe = Redis(host="127.0.0.1", port=acl_server.port, username="fbq-probe", password="x")
    try:
        assert await probe.ping()
        for command in (
            ("GET", "{fbq:submissions}:waiting"),
            ("LLEN", "{fbq:submissions}:waiting"),
            ("INFO",),
            ("CLIENT", "LIST"),
            ("CONFIG", "GET", "*"),
            ("SUBSCRIBE", "x"),
        ):
            with pytest.raises(rex.NoPermissionError):
                await probe.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        await probe.aclose()


async def test_the_normal_client_output_buffer_limit_is_set(root: Redis) -> None:
    config = await root.config_get("client-output-buffer-limit")
    limits = str(config["client-output-buffer-limit"]).split()
    normal = limits[limits.index("normal") + 1 : limits.index("normal") + 4]
    assert normal == [str(256 * MiB), str(64 * MiB), "60"]


async def test_a_client_that_stops_reading_is_disconnected(
    acl_server: AclServer, root: Redis
) -> None:
    await root.set("big", b"x" * MiB)
    stuck = socket.create_connection(("127.0.0.1", acl_server.port))
    try:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        user, password = "fbq-test-root", acl_server.root_password
        stuck.sendall(f"AUTH {user} {password}\r\nCLIENT SETNAME stuck\r\n".encode())
        # 320 MiB of replies asked for and never read: past the 256mb hard limit.
        stuck.sendall(b"GET big\r\n" * 320)
        names: list[str] = []
        for _ in range(100):
            names = [c["name"] for c in await root.client_list()]
            if "stuck" not in names:
                break
            await asyncio.sleep(0.1)
        assert "stuck" not in names
        # The server is fine, and its memory is back.
        assert await root.ping()
        info = await root.info("memory")
        assert int(info["used_memory"]) < 64 * MiB
    finally:
        stuck.close()
        await root.delete("big")
