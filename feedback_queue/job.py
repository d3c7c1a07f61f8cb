"""The job as the rest of the code sees it: an id, its decoded record, and its submission."""

from __future__ import annotations

import base64
import secrets
import string
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import NamedTuple

from google.protobuf.timestamp_pb2 import Timestamp

from feedback_queue.progress import Progress
from feedback_queue.record import Record, decode
from feedback_queue.v1 import queue_pb2 as pb


class Status(IntEnum):
    """Mirror of `feedback_queue.v1.Status`; the numbers are stored in Redis."""

    WAITING = pb.WAITING
    ACTIVE = pb.ACTIVE
    DELAYED = pb.DELAYED
    COMPLETED = pb.COMPLETED
    FAILED = pb.FAILED
    CANCELLED = pb.CANCELLED


FINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
# What a listing keeps of a submission's content and instructions (SubmissionInfo.abridged):
# the dashboard's table shows 80 characters, and 300 on hover.
PREVIEW_CHARS = 300


# What an id may start with: not "-" (a command line would take `fbq status -x…` for an
# option) nor "_". sharded.py marks a shard's ids with one of these.
ID_FIRST = string.ascii_letters + string.digits


def new_id() -> str:
    """12 URL-safe characters, about 72 random bits: short keys, no coordination between
    replicas; the first is a letter or digit."""
    return new_ids(1)[0]


def new_ids(count: int) -> list[str]:
    """`count` ids as new_id draws them, from one read of the system's random source."""
    # 9 random bytes are exactly 12 base64 characters, so each id is its own 12-character slice.
    text = base64.urlsafe_b64encode(secrets.token_bytes(9 * count)).decode()
    ids = [text[i : i + 12] for i in range(0, 12 * count, 12)]
    for i, token in enumerate(ids):
        if token[0] not in ID_FIRST:
            ids[i] = secrets.choice(ID_FIRST) + token[1:]
    return ids


class Started(NamedTuple):
    """A `started` hash entry (scripts/lib/started.lua), "worker|start ms|fence|fairness key",
    with "|1" after it when the start counts against the key's max_active (key-busy)."""

    worker: str
    since: int
    # The attempt's token ("" in an entry written before tokens existed).
    token: str
    # The fairness key ("" in an entry written before lanes existed).
    key: str
    counted: bool


def parse_started(entry: str | bytes) -> Started:
    text = entry.decode() if isinstance(entry, bytes) else entry
    parts = text.split("|", 4)
    parts += [""] * (4 - len(parts))
    return Started(parts[0], int(parts[1]), parts[2], parts[3], len(parts) == 5)


@dataclass(frozen=True)
class Job:
    """One submission with its state, as read from Redis."""

    id: str
    record: Record
    # The fence token of the attempt this job was taken in: only its holder knows it, and ack,
    # fail and release present it (DESIGN.md §1.2). Empty when not taken by this process.
    token: str = ""
    # The running attempt's latest progress report, when it made one (read with the job).
    progress: Progress | None = None

    @classmethod
    def from_raw(
        cls,
        job_id: str | bytes,
        raw: bytes,
        worker: str = "",
        started_ms: int = 0,
        token: str | bytes = "",
    ) -> Job:
        """`worker`, `started_ms` and `token` describe the running attempt of an ACTIVE job."""
        job_id = job_id.decode() if isinstance(job_id, bytes) else job_id
        token = token.decode() if isinstance(token, bytes) else token
        return cls(job_id, decode(raw, worker, started_ms), token)

    @property
    def status(self) -> Status:
        return Status(self.record.status)

    @property
    def attempts(self) -> int:
        return self.record.attempts

    @property
    def owner(self) -> str:
        """The principal that submitted it ("" when ingest had no credentials then)."""
        return self.record.owner

    @cached_property
    def submission(self) -> pb.Submission:
        return pb.Submission.FromString(self.record.payload)

    def to_info(self, max_attempts: int, *, abridged: bool = False) -> pb.SubmissionInfo:
        """The API's view of this job; `abridged` (a listing's) cuts the content and the
        instructions to PREVIEW_CHARS and leaves the result out."""
        rec = self.record
        submission = self.submission
        if abridged:
            submission = pb.Submission()
            submission.CopyFrom(self.submission)
            submission.content = submission.content[:PREVIEW_CHARS]
            submission.instructions = submission.instructions[:PREVIEW_CHARS]
        return pb.SubmissionInfo(
            id=self.id,
            submission=submission,
            abridged=abridged,
            status=pb.Status.ValueType(rec.status),
            attempts=rec.attempts,
            max_attempts=max_attempts,
            enqueued_at=_timestamp(rec.enqueued_ms),
            started_at=_timestamp(rec.started_ms),
            finished_at=_timestamp(rec.finished_ms),
            run_at=_timestamp(rec.run_at_ms),
            worker=rec.worker,
            last_error=rec.error,
            result="" if abridged else rec.result,
            principal=rec.owner,
            progress=(
                self.progress.to_proto(abridged=abridged)
                if self.progress is not None and rec.status == Status.ACTIVE
                else None
            ),
        )


def _timestamp(ms: int) -> Timestamp | None:
    if not ms:
        return None
    stamp = Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp
