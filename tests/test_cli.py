"""`fbq`: one entry point; `python -m <service>` goes through the same parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from feedback_queue.cli import main
from feedback_queue.up import Options

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


@pytest.mark.parametrize(
    "command",
    [
        ["submit"],
        ["status"],
        ["stats"],
        ["dead"],
        ["dead", "list"],
        ["dead", "retry"],
        ["dead", "delete"],
        ["pause"],
        ["resume"],
        ["health"],
        ["bench"],
        ["up"],
    ],
)
def test_client_commands_have_help_with_examples(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: fbq {' '.join(command)}" in out
    assert "example" in out


def test_up_options_and_dispatch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = " ".join(capsys.readouterr().out.split())
    assert "up run Redis (embedded unless REDIS_URL is set), ingest, workers and the gateway" in (
        listing
    )
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Redis with persistence off in a temporary folder: nothing is kept after stop" in out
    assert "submit the sample writing pieces and show their feedback" in out

    seen: list[Options] = []

    def fake_run(options: Options) -> int:
        seen.append(options)
        return 7

    monkeypatch.setattr("feedback_queue.up.stack.run", fake_run)
    assert main(["up"]) == 7
    assert main(["up", "--data-dir", "/tmp/x", "--workers", "3", "--memory", "--demo"]) == 7
    assert seen == [
        Options(data_dir=".fbq", workers=1, memory=False, demo=False, host="127.0.0.1"),
        Options(data_dir="/tmp/x", workers=3, memory=True, demo=True, host="127.0.0.1"),
    ]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bench", "--count", "0"])
    assert info.value.code == 2
    assert "--count: must be at least 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["dead"])
    assert info.value.code == 2
