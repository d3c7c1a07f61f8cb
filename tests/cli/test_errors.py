"""Errors: one line that says what to fix, exit 1, no traceback (unless --debug), no token."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from feedback_queue.up.embedded import free_port
from tests.cli.conftest import Fbq, address, fbq_process
from tests.ingest.conftest import Ingest, StartIngest
from tests.secrets import secret

TOKEN = secret("s3cret-ingest-token")
WRONG = "wr0ng-token-value"


async def test_unreachable_ingest_is_one_line_without_traceback() -> None:
    port = free_port()
    result = await fbq_process("stats", "--addr", f"127.0.0.1:{port}")
    assert result.code == 1
    assert result.out == ""
    assert result.err == (
        f"fbq: error: cannot reach ingest at 127.0.0.1:{port} (Connection refused): "
        "check it is running, or pass --addr or set FBQ_INGEST_ADDR\n"
    )


async def test_the_address_comes_from_fbq_ingest_addr() -> None:
    port = free_port()
    result = await fbq_process("status", "abc", env={"FBQ_INGEST_ADDR": f"127.0.0.1:{port}"})
    assert result.code == 1
    assert f"cannot reach ingest at 127.0.0.1:{port}" in result.err


async def test_debug_shows_the_traceback() -> None:
    port = free_port()
    result = await fbq_process("--debug", "stats", "--addr", f"127.0.0.1:{port}")
    assert result.code == 1
    assert result.err.startswith("Traceback (most recent call last):")
    assert "grpc.aio._call.AioRpcError" in result.err
    assert result.err.splitlines()[-1].startswith("fbq: error: cannot reach ingest")
    after = await fbq_process("stats", "--addr", f"127.0.0.1:{port}", "--debug")
    assert "Traceback" in after.err  # --debug works after the command too


async def test_wrong_or_missing_token_names_the_variable_never_the_token(
    start_ingest: StartIngest,
) -> None:
    ingest = await start_ingest(grpc_token=TOKEN)
    wrong = await fbq_process("stats", "--addr", address(ingest), env={"FBQ_GRPC_TOKEN": WRONG})
    assert wrong.code == 1
    assert wrong.err == (
        f"fbq: error: ingest at {address(ingest)} refused the token from FBQ_GRPC_TOKEN: "
        "set FBQ_GRPC_TOKEN to the token ingest runs with\n"
    )
    debug = await fbq_process(
        "--debug", "stats", "--addr", address(ingest), env={"FBQ_GRPC_TOKEN": WRONG}
    )
    assert "Traceback" in debug.err
    for result in (wrong, debug):
        assert WRONG not in result.out + result.err
        assert TOKEN not in result.out + result.err
    missing = await fbq_process("stats", "--addr", address(ingest))
    assert missing.err == (
        f"fbq: error: ingest at {address(ingest)} needs a token: "
        "set FBQ_GRPC_TOKEN (or pass --token-file)\n"
    )


async def test_token_from_the_environment_fbq_token_or_token_file(
    fbq: Fbq, start_ingest: StartIngest, client_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest = await start_ingest(grpc_token=TOKEN)
    addr = ["--addr", address(ingest)]
    monkeypatch.setenv("FBQ_GRPC_TOKEN", TOKEN)
    assert (await fbq("stats", "--json", *addr)).code == 0
    monkeypatch.delenv("FBQ_GRPC_TOKEN")

    (client_env / ".fbq").mkdir()
    (client_env / ".fbq" / "token").write_text(TOKEN + "\n")  # as `fbq up` writes it
    assert (await fbq("stats", "--json", *addr)).code == 0

    elsewhere = client_env / "token.txt"
    elsewhere.write_text(WRONG)
    refused = await fbq("stats", *addr, "--token-file", str(elsewhere))  # the flag wins
    assert refused.code == 1
    assert f"refused the token from {elsewhere}" in refused.err
    missing = await fbq("stats", *addr, "--token-file", str(client_env / "nope"))
    assert missing.err == (
        f"fbq: error: cannot read the token file {client_env / 'nope'}: No such file or directory\n"
    )


async def test_invalid_argument_and_not_found_say_the_servers_message(cli: Fbq) -> None:
    blank = await cli("submit", "   ")
    assert (blank.code, blank.err) == (
        1,
        "fbq: error: submission.content: required and must not be blank\n",
    )
    unknown = await cli("status", "AAAAAAAAAAAA")
    assert (unknown.code, unknown.err) == (1, "fbq: error: no submission with id 'AAAAAAAAAAAA'\n")
    both = await cli("submit", "text", "--file", "x.txt")
    assert both.err.startswith("fbq: error: give exactly one of:")


async def test_a_malformed_setting_names_the_variable() -> None:
    result = await fbq_process("stats", env={"FBQ_MAX_ATTEMPTS": "many"})
    assert (result.code, result.err) == (
        1,
        "fbq: error: FBQ_MAX_ATTEMPTS: expected a whole number, got 'many'\n",
    )


async def test_stats_watch_refreshes_until_ctrl_c(ingest: Ingest) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "feedback_queue.cli",
        "stats",
        "--watch",
        "--json",
        "--addr",
        address(ingest),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    first = json.loads(await process.stdout.readline())
    second = json.loads(await process.stdout.readline())  # it refreshed
    assert first["waiting"] == second["waiting"] == 0
    process.send_signal(signal.SIGINT)
    _, err = await process.communicate()
    assert process.returncode == 130
    assert b"Traceback" not in err
