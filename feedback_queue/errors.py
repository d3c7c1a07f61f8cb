"""The one error hierarchy of the core; servicers and the gateway translate it at their boundary.

Messages say what went wrong and what to check, and never carry a secret or submission content.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class QueueError(Exception):
    """Base of every error the queue raises on purpose."""


class QueueUnavailable(QueueError):
    """Redis cannot be reached or cannot serve us right now (down, loading, busy running a
    script, a failover under way); safe to retry (with the same idempotency key)."""


class QueueMisconfigured(QueueUnavailable):
    """Redis cannot be used with our settings, and waiting will not change that: a server
    certificate our CA does not vouch for, TLS files that cannot be loaded, refused credentials,
    a missing ACL permission. Start-up ends at once with it; the message names the variable."""


class QueueAuthError(QueueMisconfigured):
    """Redis refused the credentials or the ACL forbids a command."""


class QueueFull(QueueError):
    """Back-pressure: the queue is at its cap or Redis is out of memory. Nothing was accepted."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(QueueFull):
    """A submitter sent more than its rate allows."""


class OutOfMemory(QueueFull):
    """Redis refused a write at its maxmemory (noeviction); someone must free memory."""


class Overloaded(QueueError):
    """A caller is over one of ingest's caps (calls, streams, watches, request bytes): this
    call was refused before it did anything; `reason` is the stable name of the cap."""

    def __init__(self, reason: str, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class InvalidSubmission(QueueError):
    """A field of a submission or request is missing or malformed."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class BatchTooLarge(InvalidSubmission):
    """A batch with more submissions than the server takes in one call."""


class NotFound(QueueError):
    """No submission has that id (never had one, or it has expired)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no submission with id {job_id!r}")
        self.job_id = job_id


class Conflict(QueueError):
    """The request contradicts the stored state (idempotency key reused, wrong status)."""


class NotCancellable(Conflict):
    """The submission has reached COMPLETED or FAILED: there is nothing left to cancel."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(
            f"submission {job_id!r} is {status} already; only WAITING, DELAYED and ACTIVE "
            "submissions can be cancelled"
        )
        self.status = status


class KeyConflict(Conflict):
    """The idempotency key was used before with a different payload."""


class IdCollision(QueueError):
    """A freshly drawn id already exists with another payload; draw again."""


def is_transient(exc: BaseException) -> bool:
    """Whether waiting alone can cure `exc`: Redis down, loading, busy or failing over.

    A misconfiguration (refused credentials, a missing ACL permission) and a full Redis
    (QueueFull) need someone to act, so they are not transient, though a loop may keep trying.
    """
    return isinstance(exc, QueueUnavailable) and not isinstance(exc, QueueMisconfigured)
