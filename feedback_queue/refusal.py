"""The one map from the core's errors to what a gRPC caller is told.

A `Refusal` is a status code, a message that says what to fix, and a stable reason; it travels
as the call's status with google.rpc.Status details in the standard `grpc-status-details-bin`
trailer (ErrorInfo always, BadRequest for a field, RetryInfo for back-pressure), which any gRPC
client can read, or as one item's `SubmitError` in a stream or a batch. Causes that only an
operator can act on (which Redis, why) stay in the server log: a client never learns internal
addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from feedback_queue.errors import (
    BatchTooLarge,
    Conflict,
    InvalidSubmission,
    KeyConflict,
    NotCancellable,
    NotFound,
    OutOfMemory,
    Overloaded,
    QueueError,
    QueueFull,
    QueueUnavailable,
    RateLimited,
)
from feedback_queue.v1 import queue_pb2 as pb

DOMAIN = "feedback-queue"
DETAILS_KEY = "grpc-status-details-bin"
# Our own hint, and the one gRPC's built-in retry policy honours (gRFC A6).
RETRY_AFTER_KEY = "retry-after-ms"
PUSHBACK_KEY = "grpc-retry-pushback-ms"
# A wait longer than this is not worth a built-in retry: gRPC waits out a pushback even past
# the call's deadline, and the caller would get DEADLINE_EXCEEDED without the details. The
# published service config's 4 retries of at most this wait fit in its 10 s timeout. A
# negative pushback tells gRPC not to retry, so the caller sees RetryInfo and decides.
PUSHBACK_MAX_MS = 2000
UNAVAILABLE_MESSAGE = (
    "the queue's storage (Redis) is unavailable; retry with the same idempotency_key"
)


@dataclass(frozen=True)
class Refusal:
    """Why a call (or one item of it) was refused, in every form a client reads."""

    code: grpc.StatusCode
    message: str
    reason: str
    field: str = ""
    retry_after: float | None = None  # seconds

    @property
    def retry_after_ms(self) -> int | None:
        return None if self.retry_after is None else max(int(self.retry_after * 1000), 1)

    def status(self) -> status_pb2.Status:
        """The google.rpc.Status with its details."""
        details = [error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN)]
        if self.field:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=self.field, description=self.message
            )
            details.append(error_details_pb2.BadRequest(field_violations=[violation]))
        if self.retry_after is not None:
            details.append(error_details_pb2.RetryInfo(retry_delay=self._retry_delay()))
        packed = []
        for detail in details:
            any_detail = any_pb2.Any()
            any_detail.Pack(detail)
            packed.append(any_detail)
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=packed)

    def trailers(self) -> tuple[tuple[str, str | bytes], ...]:
        """The trailing metadata of a call ended with this refusal."""
        trailers: list[tuple[str, str | bytes]] = [(DETAILS_KEY, self.status().SerializeToString())]
        wait = self.retry_after_ms
        if wait is not None:
            pushback = wait if wait <= PUSHBACK_MAX_MS else -1
            trailers += [(RETRY_AFTER_KEY, str(wait)), (PUSHBACK_KEY, str(pushback))]
        return tuple(trailers)

    def item_error(self) -> pb.SubmitError:
        """The refusal as one item's outcome of a stream or a batch."""
        error = pb.SubmitError(
            code=self.code.value[0], message=self.message, field=self.field, reason=self.reason
        )
        if self.retry_after is not None:
            error.retry_after.CopyFrom(self._retry_delay())
        return error

    def _retry_delay(self) -> duration_pb2.Duration:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(self.retry_after_ms or 0)
        return delay


def refusal_for(exc: BaseException) -> Refusal:
    """The refusal a caller gets for an error raised below a servicer."""
    code = grpc.StatusCode
    retry_after = exc.retry_after if isinstance(exc, QueueFull) else None
    match exc:
        case BatchTooLarge():
            return Refusal(code.INVALID_ARGUMENT, str(exc), "BATCH_TOO_LARGE", exc.field)
        case InvalidSubmission():
            return Refusal(code.INVALID_ARGUMENT, str(exc), "INVALID_FIELD", exc.field)
        case NotFound():
            return Refusal(code.NOT_FOUND, str(exc), "NOT_FOUND", "id")
        case KeyConflict():
            return Refusal(
                code.FAILED_PRECONDITION,
                str(exc),
                "IDEMPOTENCY_KEY_CONFLICT",
                "submission.idempotency_key",
            )
        case NotCancellable():
            return Refusal(code.FAILED_PRECONDITION, str(exc), "NOT_CANCELLABLE", "id")
        case Conflict():
            return Refusal(code.FAILED_PRECONDITION, str(exc), "WRONG_STATE")
        case Overloaded():
            return Refusal(code.RESOURCE_EXHAUSTED, str(exc), exc.reason, "", exc.retry_after)
        case RateLimited():
            return Refusal(code.RESOURCE_EXHAUSTED, str(exc), "RATE_LIMITED", "", retry_after)
        case OutOfMemory():
            return Refusal(code.RESOURCE_EXHAUSTED, str(exc), "REDIS_OUT_OF_MEMORY", "", 1.0)
        case QueueFull():
            return Refusal(code.RESOURCE_EXHAUSTED, str(exc), "QUEUE_FULL", "", retry_after)
        case QueueUnavailable():
            return Refusal(code.UNAVAILABLE, UNAVAILABLE_MESSAGE, "STORAGE_UNAVAILABLE")
        case QueueError():
            message = "the queue could not complete the request; see the logs"
            return Refusal(code.INTERNAL, message, "INTERNAL")
    return Refusal(code.INTERNAL, "internal error", "INTERNAL")


def unauthenticated(token_given: bool, *, certificates: bool = False) -> Refusal:
    """No credential (TOKEN_MISSING), or one ingest does not know (TOKEN_INVALID)."""
    message = (
        "missing or wrong token: send metadata 'authorization: Bearer <token>' with a token of "
        "ingest's FBQ_CREDENTIALS_FILE or its FBQ_GRPC_TOKEN"
    )
    if certificates and not token_given:
        message += ", or a client certificate whose name has a credential"
    reason = "TOKEN_INVALID" if token_given else "TOKEN_MISSING"
    return Refusal(grpc.StatusCode.UNAUTHENTICATED, message, reason)


def role_forbids(role: str, method: str) -> Refusal:
    """The caller is known, but its role does not allow `method` (ROLE_FORBIDS)."""
    message = f"role {role} may not call {method}; ask for a credential with a role that may"
    return Refusal(grpc.StatusCode.PERMISSION_DENIED, message, "ROLE_FORBIDS")
