"""docs/configuration.md tells the truth: every variable the settings read is in its table, and
every default it states is the one the config objects hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feedback_queue.settings import Settings
from tests.helpers import variables_read

TABLE_ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| (unset|`[^`]*`) \|", re.MULTILINE)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def documented() -> dict[str, str | None]:
    """Variable -> its documented default (None for "unset")."""
    rows = TABLE_ROW.findall(DOCS.read_text())
    assert rows, f"no variable table in {DOCS}"
    return {name: None if default == "unset" else default.strip("`") for name, default in rows}


def test_every_variable_read_is_documented_and_every_documented_one_is_read() -> None:
    assert set(documented()) == variables_read()


@pytest.mark.parametrize(
    ("name", "default"), [(n, d) for n, d in documented().items() if d is not None]
)
def test_the_documented_default_is_the_default(name: str, default: str) -> None:
    # Each default lives on its config object's field; setting the variable to the documented
    # value must change nothing.
    assert Settings.from_env({name: default}) == Settings.from_env({})
