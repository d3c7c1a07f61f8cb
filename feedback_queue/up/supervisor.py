"""Child processes of `fbq up`: start them, stream their logs with a prefix, stop them in order.

Each child runs in its own process group, so Ctrl-C in a terminal reaches only `fbq up`, which
then stops the children one by one (the order matters: the gateway and ingest stop taking calls
before the workers hand their jobs back, and Redis stops last).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TextIO

Probe = Callable[[], bool]

_COLOURS = ("36", "33", "35", "32", "34", "31")

# Run before the real program (exec keeps it): SIGTERM when the parent dies, even by SIGKILL, so
# a killed `fbq up` leaves no orphans. prctl(PR_SET_PDEATHSIG = 1) is Linux's; the parent check
# covers a parent that died before the call.
_GUARD = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def die_with_parent(argv: list[str]) -> list[str]:
    """`argv`, run so that it gets SIGTERM when this process dies (on Linux; elsewhere as is)."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-c", _GUARD, str(os.getpid()), *argv]


class ChildFailed(Exception):
    """A child exited, or was not ready in time; the message says which and shows its last lines."""


@dataclass
class Child:
    """One process of the stack."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ready: Probe
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=15), repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None


class Supervisor:
    """Runs children and prints their output as `name | line`."""

    def __init__(self, out: TextIO, *, colour: bool, wake: threading.Event) -> None:
        self.out = out
        self.colour = colour
        self.children: list[Child] = []
        self.wake = wake  # set when a child's output ends: it exited
        self._print_lock = threading.Lock()
        self._width = 0

    def start(self, child: Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            die_with_parent(child.argv),
            env=child.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        self.children.append(child)
        self._width = max(self._width, len(child.name))
        colour = _COLOURS[(len(self.children) - 1) % len(_COLOURS)]
        stdout = child.process.stdout
        assert stdout is not None
        threading.Thread(target=self._pump, args=(child, stdout, colour), daemon=True).start()

    def _pump(self, child: Child, stdout: IO[bytes], colour: str) -> None:
        prefix = f"{child.name:<{self._width}} |"
        if self.colour:
            prefix = f"\033[{colour}m{prefix}\033[0m"
        with stdout:
            for raw in stdout:
                line = raw.decode(errors="replace").rstrip()
                child.tail.append(line)
                self.say(f"{prefix} {line}")
        self.wake.set()

    def say(self, text: str) -> None:
        """Print a whole line, never interleaved with a child's."""
        with self._print_lock:
            self.out.write(text + "\n")
            self.out.flush()

    def wait_ready(self, children: list[Child], timeout: float, stop: threading.Event) -> None:
        """Until every child's probe passes; ChildFailed if one exits or `timeout` passes."""
        deadline = time.monotonic() + timeout
        pending = list(children)
        while pending:
            self.check_alive()
            pending = [c for c in pending if not c.ready()]
            if not pending or stop.is_set():
                return
            if time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise ChildFailed(f"not ready after {timeout:g}s: {names}{_tails(pending)}")
            stop.wait(0.1)  # probing another process's readiness: nothing to await but time

    def check_alive(self) -> None:
        """ChildFailed naming the first child that has exited."""
        for child in self.children:
            if child.exited():
                assert child.process is not None
                raise ChildFailed(
                    f"{child.name} exited with code {child.process.returncode}{_tails([child])}"
                )


def stop_group(children: list[Child], grace: float) -> None:
    """SIGTERM to all of them at once, wait up to `grace` seconds, then SIGKILL; all reaped."""
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)


def _tails(children: list[Child]) -> str:
    lines = []
    for child in children:
        if child.tail:
            lines.append(f"\n--- last lines of {child.name} ---")
            lines.extend(child.tail)
    return "\n".join(lines)
