"""Every password and token the tests use, and every log line and output they see.

Tests make their secrets with `secret(...)`; fixtures hand what they capture from processes to
`seen(...)`; a handler on the root logger keeps every log record of the session. The last test
of the session (test_no_secret_in_logs.py, moved to the end by conftest) finds none of the
secrets in any of it.
"""

from __future__ import annotations

import logging

USED: set[str] = set()
SEEN: list[str] = []


def secret(value: str) -> str:
    """Register `value` as a secret of the tests; returns it."""
    USED.add(value)
    return value


def seen(text: str) -> None:
    """Keep output captured from a process (a service's log, a CLI's stdout and stderr)."""
    SEEN.append(text)


class Collector(logging.Handler):
    """Keeps every formatted record, traceback included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            SEEN.append(self.format(record))
        except Exception:
            SEEN.append(repr(record.__dict__))
