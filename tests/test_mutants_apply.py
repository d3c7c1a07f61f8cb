"""Each mutant of tests/mutants.py still names its guard: its text is in its file exactly once
(the mutants run is not part of the test command, so a guard's text that changed would go
unnoticed until someone runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutants import MUTANTS, ROOT, Mutant


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_the_guard_is_in_its_file_once(mutant: Mutant) -> None:
    text = (Path(ROOT) / mutant.path).read_text(encoding="utf-8")
    assert text.count(mutant.old) == 1, f"{mutant.name}: {mutant.old!r} in {mutant.path}"
