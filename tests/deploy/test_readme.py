"""deploy/README.md quotes what the services print; this keeps the quotes true when the messages
change. (The quotes were taken from real runs; here the same errors are rebuilt from the
redis-py exceptions those runs raised.)"""

from __future__ import annotations

import redis.exceptions as rex

from feedback_queue.connection import translate
from tests.deploy.conftest import DEPLOY

ADDRESS = "redis://127.0.0.1:6391/0"


def test_troubleshooting_quotes_what_the_code_prints() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for heading in ("Connection refused", "Authentication failed", "Out of memory", "High latency"):
        assert f". {heading}\n" in readme
    refused = rex.ConnectionError(
        "Error 111 connecting to 127.0.0.1:6391. Connect call failed ('127.0.0.1', 6391)."
    )
    wrong = rex.AuthenticationError("invalid username-password pair or user is disabled.")
    oom = rex.OutOfMemoryError("command not allowed when used memory > 'maxmemory'.")
    noperm = rex.NoPermissionError(
        "this user has no permissions to access one of the keys used as arguments"
    )
    for quoted in (
        f"fbq ingest: {translate(refused, ADDRESS)}",
        f"fbq ingest: {translate(wrong, ADDRESS)}",
        f"fbq: error: {translate(oom, ADDRESS)}",
        f"Submit refused UNAVAILABLE: {translate(noperm, ADDRESS)}",
    ):
        assert quoted in readme, quoted
