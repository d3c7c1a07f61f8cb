"""Validation of submissions and ids: plain functions, errors that name the field to fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
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


_PRIORITIES = frozenset(pb.Priority.values())


def validate_submission(sub: pb.Submission, limits: Limits, field: str = "submission") -> None:
    """Raise InvalidSubmission for the first field that breaks a rule.

    On the hot path of every submit: each field is read once (each read copies it out of the
    message), and UTF-8 sizes are counted only when 4 bytes a character could break a limit.
    """
    submitter_id = sub.submitter_id
    if not submitter_id:
        raise InvalidSubmission(f"{field}.submitter_id", "required")
    if not SUBMITTER_ID.match(submitter_id):
        raise InvalidSubmission(
            f"{field}.submitter_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -"
        )
    content = sub.content
    if not content or content.isspace():
        raise InvalidSubmission(f"{field}.content", "required and must not be blank")
    size = _utf8_size(content, limits.max_content_bytes)
    if size > limits.max_content_bytes:
        raise InvalidSubmission(
            f"{field}.content",
            f"is {size} bytes; at most {limits.max_content_bytes} (FBQ_MAX_CONTENT_BYTES)",
        )
    if sub.priority not in _PRIORITIES:
        raise InvalidSubmission(f"{field}.priority", "must be LOW, NORMAL or HIGH")
    kind = sub.kind
    if len(kind) > MAX_KIND:
        raise InvalidSubmission(f"{field}.kind", f"at most {MAX_KIND} characters")
    if limits.kinds and kind and kind not in limits.kinds:
        allowed = ", ".join(sorted(limits.kinds))
        raise InvalidSubmission(f"{field}.kind", f"must be one of: {allowed}")
    if _utf8_size(sub.instructions, MAX_INSTRUCTIONS_BYTES) > MAX_INSTRUCTIONS_BYTES:
        raise InvalidSubmission(f"{field}.instructions", f"at most {MAX_INSTRUCTIONS_BYTES} bytes")
    metadata = sub.metadata
    if metadata:
        _validate_metadata(metadata, field)
    if len(sub.idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidSubmission(
            f"{field}.idempotency_key", f"at most {MAX_IDEMPOTENCY_KEY} characters"
        )


def _utf8_size(text: str, limit: int) -> int:
    """The UTF-8 size of `text`, or its length when that alone proves it within `limit`."""
    return len(text) if len(text) * 4 <= limit else len(text.encode("utf-8"))


def _validate_metadata(metadata: Mapping[str, str], field: str) -> None:
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise InvalidSubmission(f"{field}.metadata", f"at most {MAX_METADATA_ENTRIES} entries")
    for key, value in metadata.items():
        if not METADATA_KEY.match(key):
            raise InvalidSubmission(
                f"{field}.metadata",
                f"key {key[:64]!r} must be 1-64 characters of A-Z a-z 0-9 . _ -",
            )
        if _utf8_size(value, MAX_METADATA_VALUE_BYTES) > MAX_METADATA_VALUE_BYTES:
            raise InvalidSubmission(
                f"{field}.metadata[{key}]", f"at most {MAX_METADATA_VALUE_BYTES} bytes"
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
