"""A service run as a real process (`python -m gateway`, `python -m ingest_service`), its log
read line by line as it comes, so a test awaits a line instead of polling."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.secrets import seen

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Service:
    """One process and every line it has written to stdout or stderr."""

    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    printed: threading.Condition = field(default_factory=threading.Condition)
    ended: bool = False

    def start(self) -> Service:
        self.process = subprocess.Popen(
            [sys.executable, *self.argv],
            env={**os.environ, **self.env},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="surrogateescape",  # the bytes as written, even the undecodable ones
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None
        stdout = self.process.stdout
        assert stdout is not None
        with stdout:
            for line in stdout:
                with self.printed:
                    self.lines.append(line)
                    self.printed.notify_all()
        with self.printed:
            self.ended = True
            self.printed.notify_all()

    async def wait_for(self, text: str, timeout: float = 30.0) -> None:
        """Until a line holding `text` is written; fails with the output if none comes."""

        def wait() -> bool:
            with self.printed:
                return self.printed.wait_for(
                    lambda: self.ended or any(text in line for line in self.lines), timeout
                )

        await asyncio.to_thread(wait)
        assert any(text in line for line in self.lines), f"no {text!r} in:\n{self.output}"

    async def stop_when_exited(self, timeout: float = 30.0) -> str:
        """The whole output of a process expected to exit by itself, once it has."""
        assert self.process is not None
        await asyncio.to_thread(self.process.wait, timeout)
        return await self.stop()

    def _until_ended(self) -> None:
        with self.printed:
            self.printed.wait_for(lambda: self.ended, 10)

    @property
    def output(self) -> str:
        with self.printed:
            return "".join(self.lines)

    async def stop(self) -> str:
        """SIGTERM, then the whole output (registered for the session's secrets check)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 30)
        await asyncio.to_thread(self._until_ended)
        seen(self.output)
        return self.output
