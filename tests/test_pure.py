"""Backoff arithmetic and submission validation: pure functions, no Redis."""

from __future__ import annotations

import random

import pytest

from feedback_queue.backoff import Backoff
from feedback_queue.errors import InvalidSubmission
from feedback_queue.job import ID_FIRST, new_id, new_ids
from feedback_queue.validation import Limits, validate_id, validate_submission
from tests.helpers import submission


def test_backoff_grows_then_caps() -> None:
    b = Backoff(base=1.0, cap=10.0)
    assert [b.ceiling(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert b.ceiling(10_000) == 10.0  # no overflow on absurd attempt numbers


def test_backoff_jitter_stays_within_half_and_whole_ceiling() -> None:
    b = Backoff(base=0.5, cap=60.0, rng=random.Random(3))
    for attempt in range(1, 12):
        delays = [b.delay(attempt) for _ in range(200)]
        ceiling = b.ceiling(attempt)
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # it really jitters


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    a = [Backoff(rng=random.Random(9)).delay(n) for n in range(1, 6)]
    b = [Backoff(rng=random.Random(9)).delay(n) for n in range(1, 6)]
    assert a == b


LIMITS = Limits(max_content_bytes=100, kinds=frozenset({"essay", "code"}))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"submitter_id": ""}, "submission.submitter_id"),
        ({"submitter_id": "has space"}, "submission.submitter_id"),
        ({"submitter_id": "x" * 129}, "submission.submitter_id"),
        ({"content": ""}, "submission.content"),
        ({"content": " \n"}, "submission.content"),
        ({"content": "é" * 51}, "submission.content"),  # 102 bytes, though 51 characters
        ({"kind": "poem"}, "submission.kind"),
        ({"instructions": "i" * (16 * 1024 + 1)}, "submission.instructions"),
        ({"metadata": {f"k{i}": "v" for i in range(33)}}, "submission.metadata"),
        ({"metadata": {"": "v"}}, "submission.metadata"),
        ({"metadata": {"k": "v" * 1025}}, "submission.metadata[k]"),
        ({"idempotency_key": "k" * 129}, "submission.idempotency_key"),
    ],
)
def test_each_rule_names_its_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSubmission) as info:
        validate_submission(submission(**{"content": "fine", **fields}), LIMITS)  # type: ignore[arg-type]
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")


def test_valid_submission_passes() -> None:
    validate_submission(
        submission(
            "é" * 50,
            submitter_id="team.a:user@x-1",
            kind="essay",
            metadata={"course": "c" * 1024},
            idempotency_key="k" * 128,
        ),
        LIMITS,
    )
    validate_submission(submission("text", kind=""), LIMITS)  # empty kind is the default


def test_ids() -> None:
    validate_id("abcDEF123_-x")
    for bad in ("", "a b", "x" * 65, "../etc"):
        with pytest.raises(InvalidSubmission, match="id"):
            validate_id(bad)


def test_ids_never_start_with_a_dash_a_command_line_would_take_for_an_option() -> None:
    firsts = {new_id()[0] for _ in range(5000)}  # a plain token starts with "-" once in 64
    assert not firsts & {"-", "_"}
    assert len(firsts) > 40  # still spread over letters and digits
    assert all(len(new_id()) == 12 for _ in range(100))


def test_ids_drawn_together_are_each_well_formed_and_distinct() -> None:
    ids = new_ids(5000)
    assert len(set(ids)) == 5000
    for job_id in ids:
        assert len(job_id) == 12
        assert job_id[0] in ID_FIRST
        validate_id(job_id)
