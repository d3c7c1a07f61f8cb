"""Secrets from files, masked in logs; admin actions audited by token id, never by token."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import grpc
import pytest

from feedback_queue.errors import ConfigError
from feedback_queue.logs import FORMAT, MaskingFormatter
from feedback_queue.settings import Settings
from feedback_queue.v1 import queue_pb2 as pb
from tests.ingest.conftest import StartIngest, start_ingest  # noqa: F401  (shared fixture)
from tests.secrets import secret

ADMIN = secret("audit-admin-token-93aa")


def test_secrets_come_from_files_as_kubernetes_mounts_them(tmp_path: Path) -> None:
    password, token = tmp_path / "password", tmp_path / "token"
    password.write_text(secret("from-a-file-pass ") + "\n")  # a trailing space is kept
    token.write_text(secret("from-a-file-token"))
    settings = Settings.from_env(
        {"REDIS_PASSWORD_FILE": str(password), "FBQ_ADMIN_TOKEN_FILE": str(token)}
    )
    assert settings.redis.password == "from-a-file-pass "
    assert settings.admin_token == "from-a-file-token"


def test_a_secret_given_twice_or_unreadable_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("x" * 20)
    with pytest.raises(ConfigError, match="FBQ_GRPC_TOKEN and FBQ_GRPC_TOKEN_FILE are both set"):
        Settings.from_env({"FBQ_GRPC_TOKEN": "y" * 20, "FBQ_GRPC_TOKEN_FILE": str(path)})
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=r"REDIS_URL_FILE: cannot read .*nowhere"):
        Settings.from_env({"REDIS_URL_FILE": str(missing)})


@pytest.mark.parametrize(
    ("environ", "variables"),
    [
        ({"FBQ_TLS_CERT": "c.pem"}, "FBQ_TLS_CERT and FBQ_TLS_KEY"),
        ({"FBQ_TLS_CLIENT_CA": "ca.pem"}, "FBQ_TLS_CLIENT_CA"),
        ({"FBQ_TLS_CLIENT_KEY": "k.pem"}, "FBQ_TLS_CLIENT_CERT and FBQ_TLS_CLIENT_KEY"),
    ],
)
def test_half_a_tls_configuration_is_refused(environ: dict[str, str], variables: str) -> None:
    with pytest.raises(ConfigError, match=variables):
        Settings.from_env(environ)


def test_the_log_formatter_masks_every_configured_secret() -> None:
    # Not registered with tests.secrets: this test logs them on purpose, to a string.
    password, token = "masked-pass-1234", "masked-token-5678"
    formatter = MaskingFormatter(FORMAT, [password, token, None, "abc"])
    try:
        raise ValueError(f"bad {password}")
    except ValueError:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "token %s then abc", (token,), exc_info=None
        )
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert password not in text
    assert token not in text
    assert text.count("***") == 2
    assert "then abc" in text  # too short to be a secret: left alone


async def test_admin_actions_are_audited_by_principal(
    start_ingest: StartIngest,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingest = await start_ingest(grpc_token=ADMIN)
    call = {"metadata": (("authorization", f"Bearer {ADMIN}"),)}
    caplog.set_level(logging.INFO, logger="fbq.audit")
    await ingest.admin.PauseQueue(pb.PauseQueueRequest(), **call)  # type: ignore[arg-type]
    await ingest.admin.GetQueueStats(pb.GetQueueStatsRequest(), **call)  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError):
        await ingest.admin.RetrySubmission(
            pb.RetrySubmissionRequest(id="Nope00000000"),
            **call,  # type: ignore[arg-type]
        )
    with pytest.raises(grpc.aio.AioRpcError):  # refused: logged as such, not audited
        await ingest.admin.ResumeQueue(pb.ResumeQueueRequest())
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    who = "principal:admin"  # FBQ_GRPC_TOKEN's principal
    assert not any("ResumeQueue" in line for line in lines)  # the refused call
    assert [line for line in lines if f"who={who}" in line] == [
        f"audit who={who} action=PauseQueue target=queue result=OK",
        f"audit who={who} action=RetrySubmission target=Nope00000000 result=NOT_FOUND",
    ]
    assert all(ADMIN not in line for line in lines)
