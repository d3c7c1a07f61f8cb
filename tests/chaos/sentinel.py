"""Redis Sentinel as a chaos `RedisTarget`: a master, one replica and three sentinels on loopback.

    redis = await SentinelRedis.start(folder / "redis", down_after=5.0)
    stack = Stack(redis, folder, ingest_env={"FBQ_MIN_REPLICAS_ACK": "1"})
    switch = await redis.watch_switch()     # subscribed to +switch-master on every sentinel
    stack.kill_redis()                      # kill -9 of the master
    port = await switch.done()              # every sentinel named the same new master
    redis.restart()                         # the old master, back as the new one's replica
    await redis.replica_in_sync()

Both servers have the password and AOF (`appendfsync` as asked): either may be the master. The
sentinels run as `redis-server <conf> --sentinel` (Debian ships no separate binary) with quorum
2, so a failover needs two of the three to agree. Services find the master through them
(`redis+sentinel://` in REDIS_URL), as a production deployment does. No password is ever in an
argv: the servers read theirs from a file (EmbeddedRedis), `masterauth` and `replicaof` are set
with CONFIG SET and REPLICAOF, the sentinels' `auth-pass` sits in their config file (mode 0600).

Waits are for events where Redis has them: the sentinels' pub/sub announces each discovery and
the switch of master; `WAIT 1` on the master returns once the replica has caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from feedback_queue.connection import create_client
from feedback_queue.settings import RedisSettings, Settings
from feedback_queue.up.embedded import EmbeddedRedis, find_server_binary, free_port
from tests.scaleout.sentinel import master_port as sentinel_master_port
from tests.secrets import secret, seen

MASTER_NAME = "fbqchaos"
SENTINELS = 3
QUORUM = 2
# Sentinel's failover-timeout: a failover that stalls (no leader elected, say) is tried again
# after twice this.
FAILOVER_TIMEOUT_MS = 10_000


@dataclass
class SentinelRedis:
    """Two redis-servers (master and replica, roles swapped by a failover) and the sentinels."""

    folder: Path
    password: str = field(repr=False)
    servers: list[EmbeddedRedis]
    binary: str
    down_after: float
    sentinel_ports: list[int] = field(default_factory=list)
    sentinels: list[subprocess.Popen[bytes]] = field(default_factory=list)
    killed: EmbeddedRedis | None = None

    @classmethod
    async def start(
        cls, folder: Path, *, down_after: float, appendfsync: str = "always"
    ) -> SentinelRedis:
        """Master and replica in sync, and sentinels that know both and each other."""
        password = secret(f"chaos-{random.SystemRandom().getrandbits(64):016x}")
        binary = find_server_binary(Settings.from_env(os.environ).redis_server_bin)
        self = cls(folder, password, [], binary, down_after)
        try:
            for name in ("a", "b"):
                server = EmbeddedRedis(
                    folder / name,
                    binary=binary,
                    appendonly=True,
                    appendfsync=appendfsync,
                    password=password,
                )
                self.servers.append(server.start())
            master, replica = self.servers
            self._follow(replica, master.port)
            await self.replica_in_sync(master.port)
            for n in range(SENTINELS):
                self._start_sentinel(n, master.port)
            for port in self.sentinel_ports:
                await self._settled(port)
        except BaseException:
            self.stop()
            raise
        return self

    # -- RedisTarget ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://:{self.password}@{hosts}/{MASTER_NAME}/0"

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": self.url}

    def kill(self) -> None:
        """kill -9 of the server the sentinels name as master."""
        self.killed = self.server(self.master_port())
        self.killed.kill()

    def restart(self) -> None:
        """Start the killed server again on its files, as a replica of the master now named.

        The sentinels would demote it themselves some seconds after it is back; this is what an
        operator (or an orchestrator) does at once. Its AOF may hold writes the new master never
        received: the full resync from the new master drops them.
        """
        assert self.killed is not None, "restart() without kill()"
        server, self.killed = self.killed, None
        server.restart()
        self._follow(server, self.master_port())

    def stop(self) -> None:
        for process in self.sentinels:
            process.kill()
            process.wait(10)
        for server in self.servers:
            server.kill()
        for path in [*self.folder.glob("sentinel-*.log"), *(s.log_path for s in self.servers)]:
            if path.exists():
                seen(path.read_text(errors="replace"))

    # -- looking and waiting --------------------------------------------------------------------

    def master_port(self) -> int:
        """The master's port, as the first sentinel that answers names it."""
        port = sentinel_master_port(self.sentinel_ports, MASTER_NAME)
        if port is None:
            raise AssertionError("no sentinel names a master")
        return port

    def server(self, port: int) -> EmbeddedRedis:
        return next(s for s in self.servers if s.port == port)

    def client(self, port: int) -> Redis:
        """An asyncio client of one server, master or replica."""
        return create_client(RedisSettings(host="127.0.0.1", port=port, password=self.password))

    def master_client(self) -> Redis:
        """An asyncio client of whichever server is master, found through the sentinels."""
        return create_client(RedisSettings.from_url(self.url))

    async def replica_in_sync(self, master: int | None = None, timeout: float = 60.0) -> None:
        """Until the master (the sentinels' unless given) has a replica that acknowledged every
        write so far (WAIT 1)."""
        client = self.client(master or self.master_port())
        try:
            replicas = await client.wait(1, int(timeout * 1000))
        finally:
            await client.aclose()
        assert replicas >= 1, f"no replica in sync within {timeout:g}s"

    async def watch_switch(self) -> Switch:
        """Subscribe to +switch-master on every sentinel (call it before the kill)."""
        switch = Switch([Redis(port=port) for port in self.sentinel_ports])
        await switch.subscribe()
        return switch

    # -- setting up -----------------------------------------------------------------------------

    def _follow(self, server: EmbeddedRedis, master: int) -> None:
        client = redis.Redis(port=server.port, password=self.password, socket_timeout=5)
        try:
            client.config_set("masterauth", self.password)
            client.replicaof("127.0.0.1", master)
        finally:
            client.close()

    def _start_sentinel(self, n: int, master: int) -> None:
        port = free_port()
        path = self.folder / f"sentinel-{n}.conf"
        quoted = self.password.replace("\\", "\\\\").replace('"', '\\"')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as conf:
            conf.write(
                f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                f"logfile {self.folder / f'sentinel-{n}.log'}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} {QUORUM}\n"
                f'sentinel auth-pass {MASTER_NAME} "{quoted}"\n'
                f"sentinel down-after-milliseconds {MASTER_NAME} {int(self.down_after * 1000)}\n"
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            )
        self.sentinels.append(
            subprocess.Popen(
                [self.binary, str(path), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
        )
        self.sentinel_ports.append(port)

    async def _settled(self, port: int, timeout: float = 60.0) -> None:
        """Until the sentinel at `port` knows the replica, up, and the other sentinels.

        It announces each discovery (+slave, +sentinel) on its pub/sub; a replica it found but
        has not reached yet has no event of its own, hence a look at least once a second.
        """
        client = Redis(port=port, socket_connect_timeout=5)
        deadline = time.monotonic() + timeout
        try:
            for _ in range(int(timeout * 10)):  # until it listens
                with contextlib.suppress(redis.ConnectionError, OSError):
                    await client.ping()
                    break
                await asyncio.sleep(0.1)  # it is opening its port: no event to await
            async with client.pubsub() as pubsub:
                await pubsub.psubscribe("*")
                while not await _knows_everyone(client):
                    remaining = deadline - time.monotonic()
                    assert remaining > 0, f"sentinel {port} never saw the replica and its peers"
                    await pubsub.get_message(True, timeout=min(remaining, 1.0))
        finally:
            await client.aclose()


class Switch:
    """The sentinels' +switch-master announcements, awaited."""

    def __init__(self, sentinels: list[Redis]) -> None:
        self.sentinels = sentinels
        self.pubsubs: list[PubSub] = []

    async def subscribe(self) -> None:
        for client in self.sentinels:
            pubsub = client.pubsub()
            await pubsub.subscribe("+switch-master")
            self.pubsubs.append(pubsub)

    async def done(self, timeout: float = 60.0) -> int:
        """The new master's port, once every sentinel has switched to it."""
        deadline = time.monotonic() + timeout
        ports: list[int] = []
        try:
            for pubsub in self.pubsubs:
                while True:
                    remaining = deadline - time.monotonic()
                    assert remaining > 0, f"no failover within {timeout:g}s; switched: {ports}"
                    message = await pubsub.get_message(True, timeout=remaining)
                    if message is not None:
                        # "<name> <old ip> <old port> <new ip> <new port>"
                        ports.append(int(message["data"].split()[4]))
                        break
        finally:
            for pubsub in self.pubsubs:
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            for client in self.sentinels:
                await client.aclose()
        assert len(set(ports)) == 1, f"the sentinels named different masters: {ports}"
        return ports[0]


async def _knows_everyone(sentinel: Redis) -> bool:
    try:
        replicas = await sentinel.sentinel_slaves(MASTER_NAME)
        peers = await sentinel.sentinel_sentinels(MASTER_NAME)
    except redis.RedisError:
        return False
    up = [r for r in replicas if not (r.get("is_sdown") or r.get("is_disconnected"))]
    return bool(up) and isinstance(peers, list) and len(peers) == SENTINELS - 1
