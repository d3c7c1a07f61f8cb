"""What a processor is given and how it says that an attempt failed.

A processor is any callable `process(job: JobContext) -> str | dict | list | None`, plain or
async (plain ones run in a thread pool). Its return value becomes the submission's result (a
dict or list as JSON, None as empty). Raise `RetryableError` for a failure that another attempt
may fix (timeouts, a busy model service), `PermanentError` for one that it cannot (the input is
unusable). Any other exception counts as retryable: a bug fixed by the next deploy should not
have dead-lettered the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedback_queue.v1 import queue_pb2 as pb


@dataclass(frozen=True)
class JobContext:
    """One attempt at one submission."""

    id: str
    submission: pb.Submission
    attempt: int
    max_attempts: int

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


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
