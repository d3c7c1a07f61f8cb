"""The one logging configuration of every process: one greppable line per event.

Secrets never reach a log line by design (settings keep them out of `repr`, errors name the
variable, not the value); the formatter still masks every configured secret in every line,
tracebacks included, in case a library echoes one.

No caller can forge a line or drive the reader's terminal: the formatter escapes control
characters (CR, LF, ESC, the rest of C0 and C1, Unicode's line separators and bidi overrides) in
every message, whatever put them there (a path, an id, an exception's text), and indents the
continuation lines of tracebacks, so every line that starts at column 0 is a record of ours.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"
# Shorter values would mask ordinary words; no real password or token is this short.
MIN_SECRET_CHARS = 4


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTINUATION = "\n    "


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape(text: str) -> str:
    """`text` on one line, its control characters written as escapes (\\n, \\x1b, \\u2028)."""
    return _CONTROL.sub(_escaped, text)


def _indented(text: str) -> str:
    """A traceback kept on its lines, each escaped and every one but the first indented."""
    return _CONTINUATION.join(escape(line) for line in text.split("\n"))


class MaskingFormatter(logging.Formatter):
    """A formatter that escapes control characters in each message (one record, one line) and
    replaces each secret in the finished line with ***."""

    def __init__(self, fmt: str, secrets: Iterable[str | None]) -> None:
        super().__init__(fmt)
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len)[
            ::-1
        ]

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def configure(level: str = "INFO", secrets: Iterable[str | None] = ()) -> None:
    """Log to stderr at `level`, masking `secrets`; quiet the chatty libraries."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr, force=True)
    formatter = MaskingFormatter(FORMAT, secrets)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
    # httpx logs every request's full URL at INFO: FBQ_PROCESSOR_URL's query may hold an API key.
    for noisy in ("grpc", "asyncio", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
