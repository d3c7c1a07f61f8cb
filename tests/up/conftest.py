"""`fbq up` as a real subprocess on free ports, and the `fbq` CLI run against it."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from feedback_queue.up.embedded import free_port
from tests.secrets import secret, seen

ROOT = Path(__file__).resolve().parents[2]
READY = "Feedback Queue is up."


@dataclass
class Up:
    """One running `fbq up`, its output, and what a test needs to reach it."""

    folder: Path  # the working directory: `.fbq` is the data dir, as by default
    env: dict[str, str]
    args: list[str]
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    printed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def ingest(self) -> str:
        return f"127.0.0.1:{self.env['FBQ_INGEST_PORT']}"

    @property
    def worker_health(self) -> str:
        return f"127.0.0.1:{self.env['FBQ_WORKER_HEALTH_PORT']}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.env['FBQ_GATEWAY_PORT']}"

    @property
    def token(self) -> str:
        if "FBQ_ADMIN_TOKEN" in self.env:  # given, as --memory (which keeps no file) needs
            return self.env["FBQ_ADMIN_TOKEN"]
        return secret((self.folder / ".fbq" / "token").read_text().strip())

    def wait_for(self, text: str, timeout: float = 60.0) -> bool:
        """Whether a line holding `text` is printed within `timeout` seconds."""
        with self.printed:
            return self.printed.wait_for(lambda: any(text in x for x in self.lines), timeout)

    def output(self) -> str:
        return "\n".join(self.lines)

    def start(self) -> Up:
        self.lines.clear()
        self.ready.clear()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "feedback_queue.cli", "up", *self.args],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        assert self.ready.wait(90), f"fbq up printed no ready block:\n{self.output()}"
        assert self.process.poll() is None, f"fbq up exited:\n{self.output()}"
        for name in ("token", "redis-password"):  # made by fbq up: secrets of this test
            path = self.folder / ".fbq" / name
            if path.exists():
                secret(path.read_text().strip())
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                with self.printed:
                    self.lines.append(line.rstrip("\n"))
                    self.printed.notify_all()
                seen(line)
                if READY in line:
                    self.ready.set()
        self.ready.set()  # ended: start() then sees the exit

    def pids(self) -> dict[str, int]:
        """The processes the ready block lists, by name."""
        line = next(x for x in self.lines if x.strip().startswith("processes"))
        pairs = (item.split("=") for item in line.split()[1:] if "=" in item)
        return {name: int(pid) for name, pid in pairs}

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)

    def fbq(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the CLI beside the stack (same folder, so it finds the token in .fbq)."""
        done = subprocess.run(
            [sys.executable, "-m", "feedback_queue.cli", *args],
            cwd=self.folder,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        seen(done.stdout + done.stderr)
        return done

    def fbq_json(self, *args: str) -> Any:
        """The CLI's --json output (its last line), asserting exit 0."""
        done = self.fbq(*args, "--json")
        assert done.returncode == 0, done.stderr + done.stdout
        return json.loads(done.stdout.strip().splitlines()[-1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def make_up(tmp_path: Path) -> Iterator[Any]:
    """Build (not start) an `fbq up` in tmp_path on free ports; all are stopped at the end."""
    started: list[Up] = []

    def make(*args: str) -> Up:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "FBQ_"))}
        env.update(
            PYTHONPATH=str(ROOT),
            FBQ_INGEST_PORT=str(free_port()),
            FBQ_WORKER_HEALTH_PORT=str(free_port()),
            FBQ_GATEWAY_PORT=str(free_port()),
            FBQ_GATEWAY_HOST="127.0.0.1",
            FBQ_PROCESSOR="tests.up.processor:process",
            FBQ_HEALTH_INTERVAL="0.5",
            UP_TEST_CURE=str(tmp_path / "cured"),
        )
        env["FBQ_INGEST_ADDR"] = f"127.0.0.1:{env['FBQ_INGEST_PORT']}"
        up = Up(tmp_path, env, list(args))
        started.append(up)
        return up

    yield make
    for up in started:
        if up.process is not None and up.process.poll() is None:
            try:
                up.interrupt()
            except subprocess.TimeoutExpired:
                up.process.kill()
                up.process.wait(30)


def ends_within(pid: int, seconds: float) -> bool:
    """Whether process `pid` (not ours to wait for) ends within `seconds`: awaited on a pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], seconds)
    finally:
        os.close(fd)
    return bool(readable)
