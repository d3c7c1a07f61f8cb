"""A real Redis Cluster on loopback: three masters, no replicas, AOF `always` on each."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from feedback_queue.up.embedded import EmbeddedRedis, free_port


@dataclass
class ClusterSetup:
    folder: Path
    binary: str | None
    nodes: list[EmbeddedRedis] = field(default_factory=list)

    def start(self) -> ClusterSetup:
        for n in range(3):
            port = free_port()
            self.nodes.append(
                EmbeddedRedis(
                    self.folder / f"node-{n}",
                    binary=self.binary,
                    port=port,
                    appendfsync="always",
                    extra_args=(
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", "nodes.conf",
                        "--cluster-node-timeout", "2000",
                        # Its own bus port: the default (port + 10000) may be taken or too high.
                        "--cluster-port", str(free_port()),
                    ),
                ).start()
            )  # fmt: skip
        done = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        self.until_ok()
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def node_of(self, key: str) -> EmbeddedRedis:
        """The master that holds `key`'s slot."""
        client = redis.Redis(port=self.nodes[0].port)
        try:
            command: Any = client.execute_command  # redis-py leaves it untyped
            slot = int(command("CLUSTER", "KEYSLOT", key))
            for start, end, master, *_ in command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    port = int(master[1])
                    return next(node for node in self.nodes if node.port == port)
        finally:
            client.close()
        raise AssertionError(f"no master serves slot {slot}")

    def until_ok(self, timeout: float = 60.0) -> None:
        """Until every node says cluster_state:ok (other processes converging: polled)."""
        deadline = time.monotonic() + timeout
        while not all(self._ok(node.port) for node in self.nodes):
            assert time.monotonic() < deadline, "the cluster never became ok"
            time.sleep(0.1)

    @staticmethod
    def _ok(port: int) -> bool:
        client = redis.Redis(port=port, socket_timeout=1)
        try:
            command: Any = client.execute_command  # redis-py leaves it untyped
            return b"cluster_state:ok" in command("CLUSTER", "INFO")
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
