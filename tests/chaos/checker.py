"""Jepsen's queue checker over the journals (DESIGN.md §6), after a full drain.

- lost: acknowledged, never completed (a submission expected to end FAILED, like a poison one,
  is not counted as lost; the test checks its FAILED state itself);
- unexpected: completed, never attempted by any producer;
- duplicated: processing starts beyond the first, not counting the retries a processor asked
  for by failing on purpose: the work a crash made the fleet do twice;
- twins: more than one job id for one idempotency key (the key failed to deduplicate).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.chaos.journal import ACK, ATTEMPT, DONE, ERROR, FAIL, GAVE_UP, REFUSED, START, Event


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
    errors: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        errors = ",".join(f"{k}:{v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"attempted={self.attempted} acknowledged={self.acknowledged} "
            f"completed={self.completed} lost={self.lost} unexpected={self.unexpected} "
            f"duplicated={self.duplicated} twins={self.twins} refused={self.refused} "
            f"gave_up={self.gave_up} deduplicated={self.deduplicated} retried_errors={errors}"
        )


def count(events: Iterable[Event], expected_failed: Iterable[str] = ()) -> Counts:
    """The counts of a finished run; `expected_failed` are keys meant to end FAILED."""
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
        lost=len(acked - done - set(expected_failed)),
        unexpected=len(done - attempted),
        duplicated=sum(max(0, n - fails[key] - 1) for key, n in starts.items()),
        twins=sum(len(v) - 1 for v in ids.values()),
        refused=len(keys[REFUSED]),
        gave_up=len(keys[GAVE_UP]),
        deduplicated=deduplicated,
        errors=dict(errors),
    )
