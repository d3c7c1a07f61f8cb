"""The queue's invariants, checked over a snapshot: does each job's status match where it is?

Pure logic over plain data (queue/check.py reads the snapshot from Redis; `fbq check` runs
both). What must hold, by the job record's status (docs/data-model.md):

========== =================================================================================
WAITING    in `waiting` exactly once, and in no processing list, `delayed` or `failed`
ACTIVE     in exactly one worker's processing list, with a `started` entry naming that worker
DELAYED    in `delayed`, nowhere else
FAILED     in `failed`, nowhere else
COMPLETED  in no list or set but the `completed` index (absent from it once trimmed)
CANCELLED  in no list or set but the `cancelled` index (absent from it once trimmed)
========== =================================================================================

Besides: no id in a list or set without a record (but the `completed` and `cancelled` indexes,
whose entries outlive their records), no `started` entry for a job that is not ACTIVE, and no
processing list of a worker missing from `workers` (an orphan: the reaper only looks at
registered workers, so its jobs would never run again).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from feedback_queue.job import Status

# The indexes of finished jobs: their entries outlive the records, until trimmed.
INDEXES = frozenset({"completed", "cancelled"})


class Kind(StrEnum):
    """What is wrong; the first three `fbq check --repair` fixes."""

    ORPHAN_LIST = "orphan-list"
    LOST_WAITING = "lost-waiting"
    STALE_STARTED = "stale-started"
    MISPLACED = "misplaced"
    NO_RECORD = "no-record"
    WRONG_RUNNER = "wrong-runner"
    BAD_RECORD = "bad-record"
    UNLISTED_LANE = "unlisted-lane"
    COUNTS = "counts"


REPAIRABLE = frozenset(
    {Kind.ORPHAN_LIST, Kind.LOST_WAITING, Kind.STALE_STARTED, Kind.UNLISTED_LANE, Kind.COUNTS}
)


@dataclass(frozen=True)
class Violation:
    """One broken invariant: the job id (or worker) it is about and a sentence saying what."""

    kind: Kind
    subject: str
    message: str

    @property
    def repairable(self) -> bool:
        return self.kind in REPAIRABLE

    @property
    def key(self) -> tuple[Kind, str]:
        """What identifies it across two snapshots."""
        return self.kind, self.subject


@dataclass(frozen=True)
class Snapshot:
    """What a queue's structures held when read (not atomically: see queue/check.py).

    `statuses` maps every id seen (in a structure, a `started` entry, or as a record key) to
    its record's status number; an id without a record is absent, one whose record could not
    be decoded maps to None.
    """

    waiting: list[str] = field(default_factory=list)
    # worker -> the ids in its processing list, for every processing list that exists.
    active: Mapping[str, list[str]] = field(default_factory=dict)
    workers: frozenset[str] = frozenset()
    delayed: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    completed: frozenset[str] = frozenset()
    cancelled: frozenset[str] = frozenset()
    # job id -> the worker its `started` entry names.
    started: Mapping[str, str] = field(default_factory=dict)
    statuses: Mapping[str, int | None] = field(default_factory=dict)
    # The lanes' bookkeeping (scripts/lib/lanes.lua): (level, key) -> ids in the lane, for
    # every lane that holds any; the keys ready at each level; the held lanes; the counters
    # (fair.waiting and w<level>); key-busy; and the keys of the started entries it counts.
    lanes: Mapping[tuple[int, str], int] = field(default_factory=dict)
    ready: Mapping[int, frozenset[str]] = field(default_factory=dict)
    held: frozenset[tuple[int, str]] = frozenset()
    counters: Mapping[str, int] = field(default_factory=dict)
    key_busy: Mapping[str, int] = field(default_factory=dict)
    counted_keys: Mapping[str, int] = field(default_factory=dict)

    @property
    def ids(self) -> set[str]:
        """Every job id the snapshot names anywhere."""
        found = set(self.waiting) | set(self.delayed) | set(self.failed)
        found |= set(self.completed) | set(self.cancelled)
        for ids in self.active.values():
            found.update(ids)
        return found | set(self.started) | set(self.statuses)


def _places(snapshot: Snapshot) -> dict[str, list[str]]:
    """id -> where it is, one item per occurrence: 'waiting', 'delayed', 'failed',
    'completed', 'cancelled', or 'active:<worker>' for a worker's processing list."""
    places: dict[str, list[str]] = {}
    for job_id in snapshot.waiting:
        places.setdefault(job_id, []).append("waiting")
    for name, members in (
        ("delayed", snapshot.delayed),
        ("failed", snapshot.failed),
        ("completed", snapshot.completed),
        ("cancelled", snapshot.cancelled),
    ):
        for job_id in members:
            places.setdefault(job_id, []).append(name)
    for worker, ids in snapshot.active.items():
        for job_id in ids:
            places.setdefault(job_id, []).append(f"active:{worker}")
    return places


def describe(where: Iterable[str]) -> str:
    """'waiting twice and the processing list of w1', or 'nothing'."""
    parts = []
    for place, times in sorted(Counter(where).items()):
        name = (
            f"the processing list of worker {place.removeprefix('active:')}"
            if place.startswith("active:")
            else f"the {place} index"
            if place in INDEXES
            else place
        )
        parts.append(name if times == 1 else f"{name} {times} times")
    return " and ".join(parts) or "no list or set"


def _expected(status: Status | None, where: list[str]) -> bool:
    """Does `where` (the places of one id) fit its record's `status` (None: no record)?"""
    if status is None:
        return set(where) <= INDEXES
    if status in (Status.COMPLETED, Status.CANCELLED):
        return set(where) <= {status.name.lower()}
    if status == Status.WAITING:
        return where == ["waiting"]
    if status == Status.ACTIVE:
        return len(where) == 1 and where[0].startswith("active:")
    if status == Status.DELAYED:
        return where == ["delayed"]
    return where == ["failed"]  # FAILED


def find_violations(snapshot: Snapshot) -> list[Violation]:
    """Every broken invariant in `snapshot`, orphan lists first, then by job id."""
    found = [
        Violation(
            Kind.ORPHAN_LIST,
            worker,
            f"worker {worker} is not registered in workers but its processing list holds "
            f"{len(ids)} job(s): the reaper never looks at it, so they would never run again",
        )
        for worker, ids in sorted(snapshot.active.items())
        if worker not in snapshot.workers and ids
    ]
    found += _lane_violations(snapshot)
    places = _places(snapshot)
    for job_id in sorted(snapshot.ids):
        found += _job_violations(snapshot, job_id, sorted(places.get(job_id, [])))
    return found


def _lane_violations(snapshot: Snapshot) -> list[Violation]:
    """A lane with work that no take looks at, and counters that disagree with what they
    count (the waiting cap, the fair share and its quotas read them)."""
    out = []
    for (level, key), size in sorted(snapshot.lanes.items()):
        ready = key in snapshot.ready.get(level, frozenset())
        held = (level, key) in snapshot.held
        if ready == held:
            where = "both ready and held" if ready else "neither ready nor held"
            out.append(
                Violation(
                    Kind.UNLISTED_LANE,
                    f"{level}:{key}",
                    f"the lane of key {key} at level {level} holds {size} id(s) but is {where}"
                    + ("" if ready else ": no worker will take them"),
                )
            )
    per_level: Counter[int] = Counter()
    for (level, _), size in snapshot.lanes.items():
        per_level[level] += size
    wrong = []
    total, in_lanes = snapshot.counters.get("waiting", 0), sum(per_level.values())
    if total != in_lanes:
        wrong.append(f"waiting is {total}, the lanes hold {in_lanes}")
    for level in (1, 2, 3):
        counted = snapshot.counters.get(f"w{level}", 0)
        if counted != per_level[level]:
            wrong.append(f"level {level} counts {counted}, its lanes hold {per_level[level]}")
    if dict(snapshot.key_busy) != dict(+Counter(snapshot.counted_keys)):
        wrong.append("the ACTIVE counts of capped keys differ from the started entries")
    if wrong:
        out.append(Violation(Kind.COUNTS, "counts", "; ".join(wrong)))
    return out


def _job_violations(snapshot: Snapshot, job_id: str, where: list[str]) -> list[Violation]:
    out: list[Violation] = []
    has_record = job_id in snapshot.statuses
    number = snapshot.statuses.get(job_id)
    runner = snapshot.started.get(job_id)
    if has_record and number not in set(Status):
        shown = "cannot be decoded" if number is None else f"has unknown status {number}"
        return [Violation(Kind.BAD_RECORD, job_id, f"job {job_id}: its record {shown}")]
    status = Status(number) if has_record and number is not None else None
    name = status.name if status is not None else ""
    if status is None and not _expected(None, where):
        out.append(
            Violation(
                Kind.NO_RECORD, job_id, f"job {job_id} has no record but is in {describe(where)}"
            )
        )
    elif status == Status.WAITING and not where:
        out.append(
            Violation(
                Kind.LOST_WAITING,
                job_id,
                f"job {job_id} is WAITING but in no list or set: no worker will ever take it",
            )
        )
    elif status is not None and not _expected(status, where):
        out.append(Violation(Kind.MISPLACED, job_id, _misplaced(job_id, status, where)))
    if status == Status.ACTIVE and len(where) == 1 and where[0].startswith("active:"):
        holder = where[0].removeprefix("active:")
        if runner is None:
            out.append(
                Violation(
                    Kind.WRONG_RUNNER,
                    job_id,
                    f"job {job_id} is ACTIVE in the processing list of worker {holder} "
                    "but has no started entry",
                )
            )
        elif runner != holder:
            out.append(
                Violation(
                    Kind.WRONG_RUNNER,
                    job_id,
                    f"job {job_id} is ACTIVE in the processing list of worker {holder} "
                    f"but its started entry names worker {runner}",
                )
            )
    if runner is not None and status != Status.ACTIVE:
        state = f"is {name}" if name else "has no record"
        out.append(
            Violation(
                Kind.STALE_STARTED,
                job_id,
                f"job {job_id} {state} but has a started entry naming worker {runner}",
            )
        )
    return out


def _misplaced(job_id: str, status: Status, where: list[str]) -> str:
    wanted = {
        Status.WAITING: "waiting exactly once",
        Status.ACTIVE: "exactly one processing list",
        Status.DELAYED: "delayed only",
        Status.FAILED: "failed only",
        Status.COMPLETED: "no list or set but the completed index",
        Status.CANCELLED: "no list or set but the cancelled index",
    }[status]
    return f"job {job_id} is {status.name} but is in {describe(where)} (expected: {wanted})"
