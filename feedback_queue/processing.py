"""What a processor is given and how it says that an attempt failed.

A processor is any callable `process(job: JobContext) -> str | dict | list | None`, plain or
async (plain ones run in a thread pool). Its return value becomes the submission's result (a
dict or list as JSON, None as empty). Raise `RetryableError` for a failure that another attempt
may fix (timeouts, a busy model service), `PermanentError` for one that it cannot (the input is
unusable). Any other exception counts as retryable: a bug fixed by the next deploy should not
have dead-lettered the work.

A processor may report how far it got: `job.report(percent=40, message="…", partial=…)`. The
worker writes the latest report of each job at most once per FBQ_PROGRESS_INTERVAL, and each
written one renews the attempt's own lease: a long job that keeps reporting is never taken for
dead, even if its worker's heartbeats stop. Reporting never blocks and never fails for Redis
trouble; a report that breaks the limits raises ValueError.

An attempt may be stopped from outside: its submission cancelled, or the attempt taken from its
worker (reaped while the worker was frozen, say). The processor sees it in its context
(`job.cancelled`, `job.raise_if_cancelled()`, `await job.wait_cancelled()`); an async
processor's task is cancelled after FBQ_CANCEL_GRACE. Whatever it returns or raises then is
not written: the submission is CANCELLED, or another attempt owns it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from feedback_queue.progress import MAX_PROGRESS_BYTES, Progress
from feedback_queue.v1 import queue_pb2 as pb


class ProgressSink(Protocol):
    """Where a context's reports go (the worker's reporter, worker_service/progress.py)."""

    max_bytes: int

    def offer(self, job_id: str, progress: Progress) -> None: ...


class JobCancelled(Exception):
    """Raised by `JobContext.raise_if_cancelled` once the attempt was stopped from outside."""


class Stop:
    """An attempt's stop signal, set once from the worker's event loop, read from any thread
    (a plain attribute: one is made per attempt, and a thread only reads it)."""

    def __init__(self) -> None:
        self._set = False
        self._event: asyncio.Event | None = None
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self._set:
            self.reason = reason
            self._set = True
            if self._event is not None:
                self._event.set()

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._event is None:
            self._event = asyncio.Event()
            if self._set:
                self._event.set()
        await self._event.wait()


@dataclass(frozen=True)
class JobContext:
    """One attempt at one submission."""

    id: str
    submission: pb.Submission
    attempt: int
    max_attempts: int
    stop: Stop = field(default_factory=Stop, compare=False, repr=False)
    sink: ProgressSink | None = field(default=None, compare=False, repr=False)

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def report(self, percent: float | None = None, message: str = "", partial: Any = None) -> None:
        """Say how far this attempt got: a percentage (0-100), a short message (at most 200
        characters), a partial result (a string, or anything JSON takes). Only the latest
        report is kept; callable from a plain processor's thread. ValueError when a value
        breaks those limits (or the partial result is over FBQ_MAX_PROGRESS_BYTES)."""
        limit = self.sink.max_bytes if self.sink is not None else MAX_PROGRESS_BYTES
        made = Progress.made(percent, message, partial, limit)
        if self.sink is not None and not self.stop.is_set():
            self.sink.offer(self.id, made)

    @property
    def cancelled(self) -> bool:
        """Whether this attempt was stopped from outside: stop working, nothing will be kept.
        Safe to read from a plain processor's thread."""
        return self.stop.is_set()

    @property
    def cancel_reason(self) -> str:
        """Why it was stopped ("" while it was not)."""
        return self.stop.reason

    def raise_if_cancelled(self) -> None:
        """Raise JobCancelled once this attempt was stopped: call it between steps."""
        if self.stop.is_set():
            raise JobCancelled(self.stop.reason)

    async def wait_cancelled(self) -> None:
        """Return once this attempt is stopped (an async processor's race against its work)."""
        await self.stop.wait()


class RetryableError(Exception):
    """This attempt failed; a later one may succeed. `retry_after` (seconds) is a floor.
    `detail` (say, what a model service answered) is kept on the submission, never logged:
    it may quote the submission's content."""

    def __init__(self, message: str, retry_after: float = 0.0, *, detail: str = "") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.detail = detail


class PermanentError(Exception):
    """This submission can never succeed: dead-letter it now. `detail` as for
    `RetryableError`: kept on the submission, never logged."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail
