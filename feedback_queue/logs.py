"""The one logging configuration of every process: one greppable line per event.

Secrets never reach a log line by design (settings keep them out of `repr`, errors name the
variable, not the value); the formatter still masks every configured secret in every line,
tracebacks included, in case a library echoes one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"
# Shorter values would mask ordinary words; no real password or token is this short.
MIN_SECRET_CHARS = 4


class MaskingFormatter(logging.Formatter):
    """A formatter that replaces each secret in the finished line with ***."""

    def __init__(self, fmt: str, secrets: Iterable[str | None]) -> None:
        super().__init__(fmt)
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len)[
            ::-1
        ]

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
