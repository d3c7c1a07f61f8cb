"""Validation of submissions and ids: plain functions, errors that name the field to fix."""

from __future__ import annotations

import re
from dataclasses import dataclass

from feedback_queue.errors import InvalidSubmission
from feedback_queue.v1 import queue_pb2 as pb

SUBMITTER_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
METADATA_KEY = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_INSTRUCTIONS_BYTES = 16 * 1024
MAX_METADATA_ENTRIES = 32
MAX_METADATA_VALUE_BYTES = 1024
MAX_IDEMPOTENCY_KEY = 128
MAX_KIND = 64
# Far beyond any real delay; keeps run-at timestamps inside the record's 48-bit field.
MAX_DELAY_SECONDS = 366 * 86400


@dataclass(frozen=True)
class Limits:
    """What a submission may hold; built from Settings."""

    max_content_bytes: int = 256 * 1024
    kinds: frozenset[str] = frozenset()


def validate_submission(sub: pb.Submission, limits: Limits, field: str = "submission") -> None:
    """Raise InvalidSubmission for the first field that breaks a rule."""
    if not sub.submitter_id:
        raise InvalidSubmission(f"{field}.submitter_id", "required")
    if not SUBMITTER_ID.match(sub.submitter_id):
        raise InvalidSubmission(
            f"{field}.submitter_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -"
        )
    if not sub.content.strip():
        raise InvalidSubmission(f"{field}.content", "required and must not be blank")
    size = len(sub.content.encode("utf-8"))
    if size > limits.max_content_bytes:
        raise InvalidSubmission(
            f"{field}.content",
            f"is {size} bytes; at most {limits.max_content_bytes} (FBQ_MAX_CONTENT_BYTES)",
        )
    if len(sub.kind) > MAX_KIND:
        raise InvalidSubmission(f"{field}.kind", f"at most {MAX_KIND} characters")
    if limits.kinds and sub.kind and sub.kind not in limits.kinds:
        allowed = ", ".join(sorted(limits.kinds))
        raise InvalidSubmission(f"{field}.kind", f"must be one of: {allowed}")
    if len(sub.instructions.encode("utf-8")) > MAX_INSTRUCTIONS_BYTES:
        raise InvalidSubmission(f"{field}.instructions", f"at most {MAX_INSTRUCTIONS_BYTES} bytes")
    if len(sub.metadata) > MAX_METADATA_ENTRIES:
        raise InvalidSubmission(f"{field}.metadata", f"at most {MAX_METADATA_ENTRIES} entries")
    for key, value in sub.metadata.items():
        if not METADATA_KEY.match(key):
            raise InvalidSubmission(
                f"{field}.metadata",
                f"key {key[:64]!r} must be 1-64 characters of A-Z a-z 0-9 . _ -",
            )
        if len(value.encode("utf-8")) > MAX_METADATA_VALUE_BYTES:
            raise InvalidSubmission(
                f"{field}.metadata[{key}]", f"at most {MAX_METADATA_VALUE_BYTES} bytes"
            )
    if len(sub.idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidSubmission(
            f"{field}.idempotency_key", f"at most {MAX_IDEMPOTENCY_KEY} characters"
        )


def validate_delay(seconds: float) -> None:
    if seconds < 0:
        raise InvalidSubmission("delay", "must not be negative")
    if seconds > MAX_DELAY_SECONDS:
        raise InvalidSubmission("delay", f"at most {MAX_DELAY_SECONDS} seconds (a year)")


def validate_id(job_id: str) -> None:
    if not job_id:
        raise InvalidSubmission("id", "required")
    if not JOB_ID.match(job_id):
        raise InvalidSubmission("id", "must be 1-64 characters of A-Z a-z 0-9 _ -")
