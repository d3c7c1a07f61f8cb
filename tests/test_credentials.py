"""The credentials file and the principals it names (feedback_queue/credentials.py): pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback_queue.credentials import (
    LEGACY_ADMIN,
    Credentials,
    Principal,
    Role,
    token_hash,
)
from feedback_queue.errors import ConfigError
from feedback_queue.queue import NOBODY, Owner
from tests.secrets import secret

TOKEN = secret("pure-credentials-token-0b7e")
GOOD = f"""
# principal   role      credential
essay-service producer  {token_hash(TOKEN)}   # the essay app
grader        producer  cn:grader.internal

ops@example   operator  {token_hash(TOKEN + "x")}
"""


def test_a_file_maps_token_hashes_and_certificate_names_to_principals() -> None:
    credentials = Credentials.parse(GOOD.splitlines())
    assert credentials.by_token(TOKEN) == Principal("essay-service", Role.PRODUCER)
    assert credentials.by_token(token_hash(TOKEN)) is None  # the hash is no credential
    assert credentials.by_certificate("grader.internal") == Principal("grader", Role.PRODUCER)
    assert credentials.names == {"essay-service", "grader", "ops@example"}


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("alice producer", "expected `principal role credential`"),
        ("al ice producer cn:x", "expected `principal role credential`"),
        ("al/ice producer cn:x", "a principal is 1-64 of"),
        ("alice king cn:x", "the role must be one of producer, viewer, operator, admin"),
        ("alice producer s3cret-pasted-token", "the credential must be sha256:<64 hex digits>"),
        ("alice producer sha256:abc", "the credential must be sha256:<64 hex digits>"),
        ("anonymous admin cn:x", "anonymous is reserved"),
    ],
)
def test_a_bad_line_is_named_by_number_never_by_content(line: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        Credentials.parse(["# header", line])
    message = str(info.value)
    assert message.startswith("FBQ_CREDENTIALS_FILE, line 2: ")
    assert error in message
    assert "s3cret-pasted-token" not in message


def test_a_principal_is_named_once() -> None:
    with pytest.raises(ConfigError, match="line 2: principal a is named twice"):
        Credentials.parse(["a producer cn:x", "a viewer cn:y"])


def test_the_grpc_token_is_principal_admin_beside_the_file() -> None:
    credentials = Credentials.of(None, TOKEN)
    assert credentials.by_token(TOKEN) == LEGACY_ADMIN == Principal("admin", Role.ADMIN)
    assert not Credentials.of(None, None)


def test_the_grpc_token_and_a_file_admin_cannot_both_be_admin(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text("admin viewer cn:someone\n")
    with pytest.raises(ConfigError, match=r"^FBQ_GRPC_TOKEN: it is the credential of principal"):
        Credentials.of(str(path), TOKEN)
    assert Credentials.of(str(path), None).by_certificate("someone") == Principal(
        "admin", Role.VIEWER
    )


def test_only_producers_are_limited_to_their_own_submissions() -> None:
    assert [Principal("p", role).sees_everything for role in Role] == [False, True, True, True]
    assert Principal("p", Role.ADMIN).may("AnyFutureMethod")
    assert not Principal("p", Role.OPERATOR).may("AnyFutureMethod")


def test_idempotency_keys_are_scoped_by_owner() -> None:
    assert Owner("alice", "alice").idempotency_key("k") == "alice\nk"
    assert Owner("admin", "").idempotency_key("k") == "k"  # FBQ_GRPC_TOKEN: as before roles
    assert NOBODY.idempotency_key("k") == "k"
    assert Owner("alice", "alice").idempotency_key("") == ""  # no key stays no key
