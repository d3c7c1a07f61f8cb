"""What the client takes and answers: plain dataclasses, no I/O.

A `Submission` gets its idempotency key when it is made (unless one is given), so the same
object submitted again, by gRPC's built-in retries, by the client's own, or by the caller after
an error, never makes a second job.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf.duration_pb2 import Duration

from feedback_queue.client.errors import FbqError, Unavailable
from feedback_queue.settings import Settings
from feedback_queue.v1 import queue_pb2 as pb

__all__ = [
    "FINAL",
    "BatchLimits",
    "Status",
    "Submission",
    "SubmissionInfo",
    "SubmitFailed",
    "Submitted",
    "new_key",
]

SubmissionInfo = pb.SubmissionInfo
# The wire's enum (Status.COMPLETED, Status.Name(value)), as SubmissionInfo.status holds it.
Status = pb.Status
# The states a submission does not leave by itself (`wait` ends there).
FINAL = frozenset({pb.COMPLETED, pb.FAILED, pb.CANCELLED})


_KEYS: list[str] = []
_KEYS_PER_DRAW = 64


def new_key() -> str:
    """A fresh idempotency key: 24 URL-safe characters, 144 random bits.

    Drawn 64 at a time from one read of the system's random source (every submit makes one).
    `list.pop` is atomic, so threads sharing the pool never get the same key.
    """
    try:
        return _KEYS.pop()
    except IndexError:
        text = base64.urlsafe_b64encode(secrets.token_bytes(18 * _KEYS_PER_DRAW)).decode()
        _KEYS.extend(text[i : i + 24] for i in range(24, 24 * _KEYS_PER_DRAW, 24))
        return text[:24]


@dataclass(frozen=True)
class Submission:
    """One piece of work to submit; `delay` in seconds. Keep the object to retry it safely."""

    content: str
    submitter_id: str
    kind: str = ""
    instructions: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str = field(default_factory=new_key)
    delay: float | None = None
    # Whose share of the workers it counts against (empty: the server's FBQ_FAIRNESS_KEY, by
    # default the submitter_id), and its priority (pb.PRIORITY_LOW, _NORMAL or _HIGH).
    fairness_key: str = ""
    priority: int = 0

    def request(self) -> pb.SubmitRequest:
        """The SubmitRequest that carries it (filled field by field: a quarter of the CPU of
        building the nested messages from keywords, on every submit)."""
        request = pb.SubmitRequest()
        sub = request.submission
        sub.SetInParent()  # present even when every field is empty: the server names the field
        sub.submitter_id = self.submitter_id
        sub.content = self.content
        sub.idempotency_key = self.idempotency_key
        if self.kind:
            sub.kind = self.kind
        if self.instructions:
            sub.instructions = self.instructions
        if self.metadata:
            sub.metadata.update(self.metadata)
        if self.fairness_key:
            sub.fairness_key = self.fairness_key
        if self.priority:
            sub.priority = self.priority  # type: ignore[assignment]
        if self.delay:
            delay = Duration()
            delay.FromNanoseconds(round(self.delay * 1e9))
            request.delay.CopyFrom(delay)
        return request

    @classmethod
    def from_request(cls, request: pb.SubmitRequest) -> Submission:
        """The submission a SubmitRequest carries; a fresh key when it has none."""
        sub = request.submission
        delay = request.delay.ToNanoseconds() / 1e9 if request.HasField("delay") else None
        return cls(
            content=sub.content,
            submitter_id=sub.submitter_id,
            kind=sub.kind,
            instructions=sub.instructions,
            metadata=dict(sub.metadata),
            idempotency_key=sub.idempotency_key or new_key(),
            delay=delay or None,
            fairness_key=sub.fairness_key,
            priority=sub.priority,
        )


def as_submission(
    content: str | Submission,
    submitter_id: str | None,
    *,
    kind: str,
    instructions: str,
    metadata: Mapping[str, str] | None,
    idempotency_key: str | None,
    delay: float | None,
) -> Submission:
    """`submit`'s arguments as one Submission: given whole, or made from its fields."""
    if isinstance(content, Submission):
        given = (submitter_id, kind, instructions, metadata, idempotency_key, delay)
        if any(given):
            raise TypeError("pass a Submission alone, or its fields without one")
        return content
    if not submitter_id:
        raise TypeError("submitter_id is required")
    return Submission(
        content=content,
        submitter_id=submitter_id,
        kind=kind,
        instructions=instructions,
        metadata=dict(metadata or {}),
        idempotency_key=idempotency_key or new_key(),
        delay=delay,
    )


@dataclass(frozen=True)
class Submitted:
    """Ingest has the submission (in Redis).

    `duplicate` is true when its idempotency key matched an earlier submission, whose `id` this
    is: an earlier submit with the same key, or an earlier try of this same call that reached
    Redis before its answer was lost (the client retried it).
    """

    id: str
    status: pb.Status.ValueType
    duplicate: bool
    idempotency_key: str

    @classmethod
    def of(cls, reply: pb.SubmitResponse, key: str) -> Submitted:
        return cls(reply.id, reply.status, reply.duplicate, key)


@dataclass(frozen=True)
class SubmitFailed:
    """One item of `submit_many` that ingest refused; submit `submission` again to retry it
    (same key: no second job)."""

    submission: Submission
    error: FbqError


@dataclass(frozen=True)
class BatchLimits:
    """How much one SubmitBatch call may carry: the server's FBQ_MAX_BATCH and
    FBQ_MAX_BATCH_BYTES (a serialized request)."""

    max_items: int = Settings.max_batch
    max_bytes: int = Settings.max_batch_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchLimits:
        return cls(settings.max_batch, settings.max_batch_bytes)


def record(
    indexes: Sequence[int],
    outcomes: Sequence[pb.SubmitResponse | FbqError],
    submissions: Sequence[Submission],
    results: list[Submitted | SubmitFailed | None],
) -> list[int]:
    """Write each outcome of a SubmitBatch (sent for `indexes`) into `results`; answer the
    indexes refused `Unavailable` alone (Redis failed mid-batch), which may be sent again."""
    again: list[int] = []
    for i, outcome in zip(indexes, outcomes, strict=True):
        sub = submissions[i]
        if isinstance(outcome, FbqError):
            results[i] = SubmitFailed(sub, outcome)
            if isinstance(outcome, Unavailable):
                again.append(i)
        else:
            results[i] = Submitted.of(outcome, sub.idempotency_key)
    return again


def error_of(result: Submitted | SubmitFailed | None) -> FbqError:
    """The error of a result `record` wrote as refused."""
    assert isinstance(result, SubmitFailed)
    return result.error


def cancel_request(
    submitter_id: str, fairness_key: str, statuses: Sequence[pb.Status.ValueType], dry_run: bool
) -> pb.CancelSubmissionRequest:
    """The CancelSubmission request of a filter cancel."""
    where = pb.CancelFilter(
        submitter_id=submitter_id, fairness_key=fairness_key, statuses=list(statuses)
    )
    return pb.CancelSubmissionRequest(filter=where, dry_run=dry_run)


def quota_request(
    key: str, weight: float | None, rate: float | None, max_active: int | None, reset: bool
) -> pb.SetKeyQuotaRequest:
    """SetKeyQuota's request: only the values given are set (proto3 optional fields)."""
    request = pb.SetKeyQuotaRequest(key=key, reset=reset)
    if weight is not None:
        request.weight = weight
    if rate is not None:
        request.rate = rate
    if max_active is not None:
        request.max_active = max_active
    return request
