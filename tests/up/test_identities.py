"""`fbq up`'s credentials file: its own principals rewritten at each start, the others kept."""

from __future__ import annotations

import stat
from pathlib import Path

from feedback_queue import credentials
from feedback_queue.credentials import Credentials, Principal, Role
from feedback_queue.up import identities
from tests.secrets import secret


def test_each_start_rewrites_cli_and_gateway_and_keeps_added_principals(tmp_path: Path) -> None:
    cli = secret("up-cli-token-5e2a")
    first = identities.write(tmp_path, cli)
    producer = secret(credentials.add(first.path, "essay-service", Role.PRODUCER))
    second = identities.write(tmp_path, cli)
    secret(first.gateway_token)
    secret(second.gateway_token)
    assert second.gateway_token != first.gateway_token
    loaded = Credentials.load(second.path)
    assert loaded.by_token(cli) == Principal("cli", Role.ADMIN)
    assert loaded.by_token(second.gateway_token) == Principal("gateway", Role.OPERATOR)
    assert loaded.by_token(first.gateway_token) is None  # last run's gateway token is gone
    assert loaded.by_token(producer) == Principal("essay-service", Role.PRODUCER)
    assert sorted(loaded.names) == ["cli", "essay-service", "gateway"]
    assert stat.S_IMODE(second.path.stat().st_mode) == 0o600
