"""A real Sentinel deployment on loopback: one master, one replica, three sentinels.

Sentinel runs as `redis-server <conf> --sentinel` (Debian packages no separate binary here); the
config file is the sentinel's own, which it rewrites as it learns the topology.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from feedback_queue.up.embedded import EmbeddedRedis, find_server_binary, free_port

MASTER_NAME = "fbqmaster"


def master_port(sentinel_ports: list[int], name: str = MASTER_NAME) -> int | None:
    """The master's port, as the first sentinel that answers names it (None: none does)."""
    for port in sentinel_ports:
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis(port=port, socket_timeout=2)
            try:
                addr = client.sentinel_get_master_addr_by_name(name)
            finally:
                client.close()
            if isinstance(addr, tuple):
                return int(addr[1])
    return None


@dataclass
class SentinelSetup:
    folder: Path
    binary: str | None
    master: EmbeddedRedis | None = None
    replica: EmbeddedRedis | None = None
    sentinel_ports: list[int] = field(default_factory=list)
    sentinels: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> SentinelSetup:
        self.master = EmbeddedRedis(
            self.folder / "a", binary=self.binary, appendfsync="everysec"
        ).start()
        self.replica = EmbeddedRedis(
            self.folder / "b",
            binary=self.binary,
            extra_args=("--replicaof", "127.0.0.1", str(self.master.port)),
        ).start()
        for n in range(3):
            port = free_port()
            conf = self.folder / f"sentinel-{n}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            )
            self.sentinels.append(
                subprocess.Popen(
                    [find_server_binary(self.binary), str(conf), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            self.sentinel_ports.append(port)
        self._until(self._settled, "the sentinels never saw the replica and each other")
        return self

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    def master_port(self) -> int | None:
        """Where the sentinels say the master is now."""
        return master_port(self.sentinel_ports)

    def _settled(self) -> bool:
        for port in self.sentinel_ports:
            try:
                client = redis.Redis(port=port, socket_timeout=1)
                try:
                    replicas = client.sentinel_slaves(MASTER_NAME)
                    peers = client.sentinel_sentinels(MASTER_NAME)
                finally:
                    client.close()
            except redis.RedisError:
                return False
            if not replicas or not isinstance(peers, list) or len(peers) < 2:
                return False
        return True

    def kill_master_and_wait_for_failover(self, timeout: float = 60.0) -> int:
        """kill -9 of the master; returns the new master's port once the sentinels agree."""
        assert self.master is not None
        old = self.master.port
        self.master.kill()
        self._until(lambda: self.master_port() not in (None, old), "no failover happened")
        new = self.master_port()
        assert new is not None
        return new

    def _until(self, check: object, message: str, timeout: float = 60.0) -> None:
        # Other processes converging: nothing to await but their answers.
        deadline = time.monotonic() + timeout
        while not check():  # type: ignore[operator]
            assert time.monotonic() < deadline, message
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.sentinels:
            process.kill()
            process.wait(10)
        for server in (self.replica, self.master):
            if server is not None:
                server.kill()
