"""Append-only event journals: what producers and processors did, kept through any kill.

Each process appends to its own file, one line per event, with one `os.write` on a file opened
`O_APPEND`: the line is in the kernel's page cache the moment the call returns, so a `kill -9` of
the writer (or of Redis, or of anything else the chaos tests break) cannot lose it. Only a crash
of the machine could, and no test injects one; so no fsync per line, which would slow the very
processors whose timing the tests rely on. A reader skips a torn last line.

A line is `<unix time> <kind> <key> <id> <n> <pid>`; the key is the producer's idempotency key,
which is also how processors name the submission they run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Producer events.
ATTEMPT = "attempt"  # about to submit key for the first time
ACK = "ack"  # Submit answered OK: id, n = 1 when duplicate=true
ERROR = "error"  # one try failed: id holds the status code name; the op is retried
REFUSED = "refused"  # refused for good (a status that retrying cannot fix): id holds the code
GAVE_UP = "gave-up"  # retried for too long without an answer
# The test's cancels.
CANCEL = "cancel"  # CancelSubmission of id answered OK (n = 1: it was cancelled already)
CANCEL_LATE = "cancel-late"  # refused: the submission had finished (id holds its status)
CANCEL_KEY = "cancel-key"  # a filter cancel of fairness key `key` answered OK, n = how many
# Processor events.
START = "start"  # an attempt began: id, n = attempt number
DONE = "done"  # the attempt finished successfully
FAIL = "fail"  # the attempt failed on purpose (a poison submission)


@dataclass(frozen=True)
class Event:
    time: float
    kind: str
    key: str
    id: str
    n: int
    pid: int


class Journal:
    """The writer side: one file, one `os.write` per event."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._pid = os.getpid()

    def write(self, kind: str, key: str, job_id: str = "-", n: int = 0) -> None:
        line = f"{time.time():.6f} {kind} {key} {job_id or '-'} {n} {self._pid}\n"
        os.write(self._fd, line.encode())

    def close(self) -> None:
        os.close(self._fd)


def read_events(folder: Path) -> list[Event]:
    """Every event of every journal in `folder`, ordered by time."""
    events: list[Event] = []
    for path in sorted(folder.glob("*.events")):
        events.extend(_read(path))
    events.sort(key=lambda e: e.time)
    return events


def _read(path: Path) -> Iterator[Event]:
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 6:
            continue  # a torn last line
        try:
            yield Event(float(parts[0]), parts[1], parts[2], parts[3], int(parts[4]), int(parts[5]))
        except ValueError:
            continue
