"""Backoff arithmetic for failed attempts: exponential growth, capped, with jitter.

"Equal jitter": attempt n waits between half and all of min(cap, base * 2**(n-1)), so delays
spread out (no thundering herd after an outage) yet still grow from one attempt to the next.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Delay before retrying after failed attempt number `attempt` (1-based), in seconds."""

    base: float = 1.0
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def ceiling(self, attempt: int) -> float:
        """The longest delay attempt `attempt` may get."""
        exponent = min(max(attempt, 1) - 1, 64)  # beyond 2**64 every cap has long been reached
        return min(self.cap, self.base * 2.0**exponent)

    def delay(self, attempt: int) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
