"""The one logging configuration of every process: one greppable line per event."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str = "INFO") -> None:
    """Log to stderr at `level`; quiet the chatty libraries."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr, force=True)
    for noisy in ("grpc", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
