"""`fbq`: one entry point; `python -m <service>` goes through the same parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from feedback_queue.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    for command in ("ingest", "worker", "gateway"):
        assert command in out


@pytest.mark.parametrize(
    ("command", "option"),
    [("ingest", "usage: fbq ingest"), ("worker", "--burst"), ("gateway", "--insecure-no-auth")],
)
def test_every_command_has_help(
    capsys: pytest.CaptureFixture[str], command: str, option: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert option in capsys.readouterr().out


def test_module_entry_points_share_the_parser() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker_service", "--no-such-flag"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "error: unrecognized arguments: --no-such-flag" in result.stderr
