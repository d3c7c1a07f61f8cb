"""No password or token the tests used appears in any log line or captured output.

Runs last (tests/conftest.py sorts it there), over what tests/secrets.py gathered: every log
record of the session, and the output of the processes the tests ran (fbq up, the CLI).
"""

from __future__ import annotations

from tests.secrets import SEEN, USED


def test_no_secret_in_any_log_line_or_output() -> None:
    assert USED, "no test registered a secret: the check would prove nothing"
    assert SEEN, "nothing was captured: the check would prove nothing"
    leaks = sorted(
        {f"{secret[:3]}… in: {text[:200]}" for text in SEEN for secret in USED if secret in text}
    )
    assert leaks == []
