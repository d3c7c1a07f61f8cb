"""The client's exceptions: each names what to do, and its message is one line for a person.

A failed call becomes one `FbqError` subclass, built from the gRPC status and the
google.rpc.Status details ingest sends in the `grpc-status-details-bin` trailer: the stable
`reason` (ErrorInfo), the offending `field` (BadRequest), and `retry_after` (RetryInfo, else the
`retry-after-ms` trailer). `str(exc)` is what `fbq` prints.

    InvalidArgument   INVALID_ARGUMENT, OUT_OF_RANGE   fix the request (`field` says where)
    NotFound          NOT_FOUND                        wrong id, or the submission expired
    Conflict          FAILED_PRECONDITION, ...         key reused with another payload, or
                                                       the state forbids the action
    Backpressure      RESOURCE_EXHAUSTED               retry after `retry_after`, same key
    Unavailable       UNAVAILABLE, CANCELLED           retry with the same key
    DeadlineExceeded  DEADLINE_EXCEEDED                may have happened: retry, same key
    Unauthenticated   UNAUTHENTICATED                  set the token
    PermissionDenied  PERMISSION_DENIED                use a token whose role allows it
    ProcessingFailed  (`wait` saw FAILED)              see `info.last_error`
    FbqError          anything else (INTERNAL, ...)    see the server's log
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from feedback_queue import tls
from feedback_queue.client.target import ENV_TOKEN, Target
from feedback_queue.refusal import DETAILS_KEY, RETRY_AFTER_KEY
from feedback_queue.v1 import queue_pb2 as pb

CODES = {code.value[0]: code for code in grpc.StatusCode}
STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"


class FbqError(Exception):
    """A call to ingest failed. `str(exc)` says what happened and what to do, in one line.

    `code` is the gRPC status (None when no call failed), `reason` the stable ErrorInfo reason
    to branch on (e.g. "QUEUE_FULL"; empty when the server sent none), `details` the server's
    own message, `field` the offending field, `retry_after` seconds to wait before retrying.
    """

    retryable: ClassVar[bool] = False  # whether the same call, with the same key, may succeed

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        details: str = "",
        field: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.details = details or message
        self.field = field
        self.retry_after = retry_after


class InvalidArgument(FbqError):
    """A field is missing or malformed (`field` names it), or a batch is too large: fix it."""


class NotFound(FbqError):
    """No submission has that id: it never existed, has expired, or is not yours."""


class Conflict(FbqError):
    """The idempotency key was used with another payload (reason IDEMPOTENCY_KEY_CONFLICT), or
    the submission's state forbids the action (WRONG_STATE)."""


class Backpressure(FbqError):
    """The queue is full, the submitter over its rate, or Redis out of memory: nothing was
    accepted. Retry after `retry_after` seconds with the same idempotency key."""

    retryable = True


class Unavailable(FbqError):
    """Ingest or its Redis cannot be reached. Retry with the same idempotency key: a retry never
    makes a second copy."""

    retryable = True


class DeadlineExceeded(FbqError):
    """No answer in time. The call may have taken effect: retry with the same idempotency key."""

    retryable = True


class Unauthenticated(FbqError):
    """Ingest wants a token, or another one."""


class PermissionDenied(FbqError):
    """The token's role does not allow this call."""


class ProcessingFailed(FbqError):
    """`wait` saw the submission end FAILED (dead-lettered); `info` holds its last error."""

    def __init__(self, info: pb.SubmissionInfo) -> None:
        attempts = f"{info.attempts} attempt{'s' if info.attempts != 1 else ''}"
        super().__init__(
            f"submission {info.id} FAILED after {attempts}: {info.last_error}",
            reason="FAILED",
            details=info.last_error,
        )
        self.info = info


class SubmissionCancelled(ProcessingFailed):
    """`wait` saw the submission end CANCELLED; `info.last_error` says by whom."""

    def __init__(self, info: pb.SubmissionInfo) -> None:
        FbqError.__init__(self, f"submission {info.id} was {info.last_error}", reason="CANCELLED")
        self.info = info


def ended(info: pb.SubmissionInfo) -> ProcessingFailed | None:
    """What `wait` raises for a submission that ended `info`: None when it COMPLETED."""
    if info.status == pb.FAILED:
        return ProcessingFailed(info)
    if info.status == pb.CANCELLED:
        return SubmissionCancelled(info)
    return None


_CLASSES: dict[grpc.StatusCode, type[FbqError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: Conflict,
    grpc.StatusCode.ALREADY_EXISTS: Conflict,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Backpressure,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.CANCELLED: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}


class FailedCall(Protocol):
    """What a failed call's exception offers, sync (`grpc.RpcError`) or asyncio."""

    def code(self) -> grpc.StatusCode: ...
    def details(self) -> str | None: ...
    def trailing_metadata(self) -> Any: ...


@dataclass(frozen=True)
class Details:
    """What the google.rpc.Status details (and our trailers) of a refusal say."""

    reason: str = ""
    field: str = ""
    retry_after: float | None = None


def read_details(trailers: Iterable[tuple[str, str | bytes]]) -> Details:
    """ErrorInfo's reason, BadRequest's first field and RetryInfo's delay, from the trailers."""
    reason, field, retry_after = "", "", None
    for key, value in trailers:
        if key == DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                reason, field, retry_after = _read_detail(detail, reason, field, retry_after)
        elif key == RETRY_AFTER_KEY and retry_after is None:
            with contextlib.suppress(ValueError):  # a hint we cannot read is no hint
                retry_after = int(value) / 1000
    return Details(reason, field, retry_after)


def _read_detail(
    detail: any_pb2.Any, reason: str, field: str, retry_after: float | None
) -> tuple[str, str, float | None]:
    if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
        info = error_details_pb2.ErrorInfo()
        detail.Unpack(info)
        reason = info.reason
    elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
        bad = error_details_pb2.BadRequest()
        detail.Unpack(bad)
        if bad.field_violations:
            field = bad.field_violations[0].field
    elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
        info_retry = error_details_pb2.RetryInfo()
        detail.Unpack(info_retry)
        retry_after = info_retry.retry_delay.ToNanoseconds() / 1e9
    return reason, field, retry_after


def from_call(exc: FailedCall, target: Target) -> FbqError:
    """The exception for a failed gRPC call to `target`."""
    code = exc.code()
    details = (exc.details() or "").strip() or code.name
    trailers = cast(Iterable[tuple[str, str | bytes]], exc.trailing_metadata() or ())
    found = read_details(trailers)
    return make(code, details, found, target)


def from_item(error: pb.SubmitError, target: Target) -> FbqError:
    """The exception for one refused item of a SubmitBatch (what a unary Submit would raise)."""
    code = CODES.get(error.code, grpc.StatusCode.UNKNOWN)
    retry_after = error.retry_after.ToNanoseconds() / 1e9 if error.HasField("retry_after") else None
    found = Details(error.reason, error.field, retry_after)
    return make(code, error.message.strip() or code.name, found, target)


def make(code: grpc.StatusCode, details: str, found: Details, target: Target) -> FbqError:
    """The exception of class and message for `code`, with what the details said."""
    cls = _CLASSES.get(code, FbqError)
    return cls(
        describe(code, details, found, target),
        code=code,
        reason=found.reason,
        details=details,
        field=found.field,
        retry_after=found.retry_after,
    )


def describe(code: grpc.StatusCode, details: str, found: Details, target: Target) -> str:
    """What a failed call means and what to do about it, in one line (never the token)."""
    address = target.address
    if code == grpc.StatusCode.UNAVAILABLE:
        if found.reason == STORAGE_UNAVAILABLE:  # ingest answered: its Redis is down
            return f"ingest at {address}: {details}"
        hint = tls.explain(details)
        if hint:
            return f"cannot reach ingest at {address}: {hint}"
        cause = details.rsplit(": ", 1)[-1]
        tls_hint = (
            "; over TLS also FBQ_TLS_CA, FBQ_TLS_CLIENT_CERT and FBQ_TLS_CLIENT_KEY (a server "
            "refusing a client certificate just closes the connection)"
            if target.tls.calling
            else ""
        )
        return (
            f"cannot reach ingest at {address} ({cause}): check it is running, "
            f"or {target.hints.address}{tls_hint}"
        )
    if code == grpc.StatusCode.UNAUTHENTICATED:
        if target.token is None:
            return f"ingest at {address} needs a token: {target.hints.token}"
        return (
            f"ingest at {address} refused the token from {target.token_source}: "
            f"set {ENV_TOKEN} to the token ingest runs with"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"ingest at {address} did not answer in time ({target.hints.timeout})"
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if found.retry_after is not None:
            return f"{details} (retry in {found.retry_after:g}s)"
        return details
    if code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
    ):
        return details
    return f"{details} ({code.name})"


def deadline_exceeded(target: Target, message: str | None = None) -> DeadlineExceeded:
    """The client's own deadline passed: waiting for a batch's answer, or in `wait`."""
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    text = message or describe(code, code.name, Details(), target)
    return DeadlineExceeded(text, code=code)


def watch_ended(target: Target) -> Unavailable:
    """A watch stream that ended before a final state (ingest shut down): watch again."""
    return Unavailable(
        f"the watch at ingest {target.address} ended before a final state",
        code=grpc.StatusCode.UNAVAILABLE,
    )
