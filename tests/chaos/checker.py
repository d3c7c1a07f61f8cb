"""Jepsen's queue checker over the journals (DESIGN.md §6), after a full drain.

- lost: acknowledged, never completed (a submission expected to end FAILED, like a poison one,
  is not counted as lost; the test checks its FAILED state itself);
- unexpected: completed, never attempted by any producer;
- duplicated: processing starts beyond the first, not counting the retries a processor asked
  for by failing on purpose: the work a crash made the fleet do twice;
- twins: more than one job id for one idempotency key (the key failed to deduplicate).

With cancels mixed in (`cancel_counts`), a submission whose record ends CANCELLED is neither lost
nor expected to complete; what must hold instead is that a cancel answered OK is never followed
by COMPLETED, that no attempt starts after its cancel, and that nothing nobody cancelled ends
CANCELLED.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from feedback_queue.v1 import queue_pb2 as pb
from tests.chaos.journal import (
    ACK,
    ATTEMPT,
    CANCEL,
    CANCEL_KEY,
    DONE,
    ERROR,
    FAIL,
    GAVE_UP,
    REFUSED,
    START,
    Event,
)

CANCELLED_STATUS = pb.CANCELLED


@dataclass(frozen=True)
class Counts:
    attempted: int
    acknowledged: int
    completed: int
    lost: int
    unexpected: int
    duplicated: int
    twins: int
    refused: int = 0
    gave_up: int = 0
    # Submit retries answered duplicate=true: the idempotency key at work.
    deduplicated: int = 0
    # Submissions whose record ended CANCELLED: neither lost nor expected to complete.
    cancelled: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        errors = ",".join(f"{k}:{v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"attempted={self.attempted} acknowledged={self.acknowledged} "
            f"completed={self.completed} lost={self.lost} unexpected={self.unexpected} "
            f"duplicated={self.duplicated} twins={self.twins} refused={self.refused} "
            f"gave_up={self.gave_up} deduplicated={self.deduplicated} "
            f"cancelled={self.cancelled} retried_errors={errors}"
        )


def count(
    events: Iterable[Event], expected_failed: Iterable[str] = (), cancelled: Iterable[str] = ()
) -> Counts:
    """The counts of a finished run; `expected_failed` are keys meant to end FAILED,
    `cancelled` the keys whose record ended CANCELLED."""
    cancelled = set(cancelled)
    keys: dict[str, set[str]] = defaultdict(set)
    starts: Counter[str] = Counter()
    fails: Counter[str] = Counter()
    ids: dict[str, set[str]] = defaultdict(set)
    errors: Counter[str] = Counter()
    deduplicated = 0
    for e in events:
        keys[e.kind].add(e.key)
        if e.kind == START:
            starts[e.key] += 1
            ids[e.key].add(e.id)
        elif e.kind == FAIL:
            fails[e.key] += 1
        elif e.kind == ACK:
            ids[e.key].add(e.id)
            deduplicated += e.n
        elif e.kind == ERROR:
            errors[e.id] += 1
    attempted, acked, done = keys[ATTEMPT], keys[ACK], keys[DONE]
    return Counts(
        attempted=len(attempted),
        acknowledged=len(acked),
        completed=len(done),
        lost=len(acked - done - set(expected_failed) - cancelled),
        unexpected=len(done - attempted),
        duplicated=sum(max(0, n - fails[key] - 1) for key, n in starts.items()),
        twins=sum(len(v) - 1 for v in ids.values()),
        refused=len(keys[REFUSED]),
        gave_up=len(keys[GAVE_UP]),
        deduplicated=deduplicated,
        cancelled=len(cancelled),
        errors=dict(errors),
    )


@dataclass(frozen=True)
class CancelCounts:
    """What the cancels of a run did; each but `asked` and `cancelled` must be 0."""

    asked: int  # by-id cancels answered OK
    cancelled: int  # records that ended CANCELLED
    completed_after_cancel: int  # a cancel answered OK, and yet the record ended otherwise
    started_after_cancel: int  # an attempt numbered beyond the record's attempts at its cancel
    uncalled: int  # CANCELLED, but neither its id nor its fairness key was cancelled
    never_started: int = 0  # CANCELLED before any attempt began
    once_started: int = 0  # CANCELLED after one began (running, or backed off)

    def line(self) -> str:
        return (
            f"cancels_asked={self.asked} cancelled={self.cancelled} "
            f"completed_after_cancel={self.completed_after_cancel} "
            f"started_after_cancel={self.started_after_cancel} uncalled={self.uncalled} "
            f"never_started={self.never_started} once_started={self.once_started}"
        )


def cancel_counts(
    events: Iterable[Event], records: dict[str, tuple[int, int, str]]
) -> CancelCounts:
    """`records`: key -> (final status, attempts, fairness key) of every acknowledged key.

    A CANCELLED record's attempts never change after its cancel (no take finds it again), so
    a START numbered beyond them began after the cancel: what must never happen.
    """
    asked: set[str] = set()
    keys_cancelled: set[str] = set()
    last_start: Counter[str] = Counter()
    for e in events:
        if e.kind == CANCEL:
            asked.add(e.key)
        elif e.kind == CANCEL_KEY:
            keys_cancelled.add(e.key)
        elif e.kind == START:
            last_start[e.key] = max(last_start[e.key], e.n)
    cancelled = {k for k, (status, _, _) in records.items() if status == CANCELLED_STATUS}
    return CancelCounts(
        asked=len(asked),
        cancelled=len(cancelled),
        completed_after_cancel=len(asked - cancelled),
        started_after_cancel=sum(1 for k in cancelled if last_start[k] > records[k][1]),
        uncalled=sum(1 for k in cancelled - asked if records[k][2] not in keys_cancelled),
        never_started=sum(1 for k in cancelled if records[k][1] == 0),
        once_started=sum(1 for k in cancelled if records[k][1] > 0),
    )
