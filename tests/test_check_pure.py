"""The invariants over hand-made snapshots: no Redis."""

from __future__ import annotations

from feedback_queue.check import Kind, Snapshot, describe, find_violations
from feedback_queue.job import Status, parse_started

W, A, D, C, F = Status.WAITING, Status.ACTIVE, Status.DELAYED, Status.COMPLETED, Status.FAILED


def healthy() -> Snapshot:
    return Snapshot(
        waiting=["w1", "w2"],
        active={"wk": ["a1"]},
        workers=frozenset({"wk", "idle"}),
        delayed=frozenset({"d1"}),
        failed=frozenset({"f1"}),
        completed=frozenset({"c1", "gone"}),  # "gone": its record expired, the index stays
        started={"a1": "wk"},
        statuses={"w1": W, "w2": W, "a1": A, "d1": D, "f1": F, "c1": C, "c2": C},
    )


def kinds(snapshot: Snapshot) -> list[tuple[Kind, str]]:
    return [v.key for v in find_violations(snapshot)]


def test_a_healthy_snapshot_has_no_violation() -> None:
    assert find_violations(healthy()) == []
    assert find_violations(Snapshot()) == []


def test_waiting_must_be_in_waiting_exactly_once() -> None:
    s = healthy()
    twice = Snapshot(**{**s.__dict__, "waiting": ["w1", "w2", "w1"]})
    assert kinds(twice) == [(Kind.MISPLACED, "w1")]
    assert "waiting 2 times" in find_violations(twice)[0].message
    elsewhere = Snapshot(**{**s.__dict__, "delayed": frozenset({"d1", "w2"})})
    assert kinds(elsewhere) == [(Kind.MISPLACED, "w2")]
    lost = Snapshot(**{**s.__dict__, "waiting": ["w1"]})
    [v] = find_violations(lost)
    assert v.key == (Kind.LOST_WAITING, "w2")
    assert v.repairable


def test_active_needs_one_processing_list_and_its_started_entry() -> None:
    s = healthy()
    assert kinds(Snapshot(**{**s.__dict__, "started": {}})) == [(Kind.WRONG_RUNNER, "a1")]
    other = Snapshot(**{**s.__dict__, "started": {"a1": "someone"}})
    assert kinds(other) == [(Kind.WRONG_RUNNER, "a1")]
    assert "names worker someone" in find_violations(other)[0].message
    nowhere = Snapshot(**{**s.__dict__, "active": {}})
    assert kinds(nowhere) == [(Kind.MISPLACED, "a1")]
    two = Snapshot(**{**s.__dict__, "active": {"wk": ["a1"], "idle": ["a1"]}})
    assert kinds(two) == [(Kind.MISPLACED, "a1")]


def test_delayed_failed_and_completed_stay_in_their_place() -> None:
    s = healthy()
    assert kinds(Snapshot(**{**s.__dict__, "waiting": ["w1", "w2", "d1"]})) == [
        (Kind.MISPLACED, "d1")
    ]
    assert kinds(Snapshot(**{**s.__dict__, "delayed": frozenset({"d1", "f1"})})) == [
        (Kind.MISPLACED, "f1")
    ]
    assert kinds(Snapshot(**{**s.__dict__, "failed": frozenset({"f1", "c1"})})) == [
        (Kind.MISPLACED, "c1")
    ]


def test_ids_without_records_and_stale_started_entries() -> None:
    s = healthy()
    ghost = Snapshot(**{**s.__dict__, "waiting": ["w1", "w2", "ghost"]})
    assert kinds(ghost) == [(Kind.NO_RECORD, "ghost")]
    stale = Snapshot(**{**s.__dict__, "started": {"a1": "wk", "d1": "wk", "nobody": "wk"}})
    assert kinds(stale) == [(Kind.STALE_STARTED, "d1"), (Kind.STALE_STARTED, "nobody")]
    assert all(v.repairable for v in find_violations(stale))


def test_orphan_processing_list() -> None:
    s = healthy()
    orphan = Snapshot(**{**s.__dict__, "workers": frozenset({"idle"})})
    [v] = find_violations(orphan)
    assert v.key == (Kind.ORPHAN_LIST, "wk")
    assert v.repairable
    assert "1 job(s)" in v.message


def test_unreadable_records() -> None:
    s = healthy()
    bad = Snapshot(**{**s.__dict__, "statuses": {**s.statuses, "w1": None, "w2": 9}})
    assert kinds(bad) == [(Kind.BAD_RECORD, "w1"), (Kind.BAD_RECORD, "w2")]
    assert not any(v.repairable for v in find_violations(bad))


def test_helpers() -> None:
    assert parse_started("w-1|1750000000000|7").worker == "w-1"
    assert describe(["waiting", "active:w", "waiting"]) == (
        "the processing list of worker w and waiting 2 times"
    )
    assert describe([]) == "no list or set"
