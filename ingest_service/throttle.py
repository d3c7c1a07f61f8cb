"""Log lines a flood of calls cannot multiply: at most one per key every `every` seconds.

A line that is let through says how many like it were held back since the last one, so the
count is never lost; callers keep their own %-style arguments (logs.py formats and masks them).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

EVERY = 10.0


class ThrottledLog:
    def __init__(
        self,
        logger: logging.Logger,
        level: int = logging.INFO,
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._level = level
        self._every = every
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def log(self, key: str, message: str, *args: object) -> None:
        """Log `message % args` unless a line of `key` went out less than `every` s ago."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._every:
            self._held[key] += 1
            return
        held = self._held.pop(key, 0)
        if held:
            message += " (and %d more like it since the last such line)"
            args = (*args, held)
        self._logger.log(self._level, message, *args)
        self._last[key] = now
