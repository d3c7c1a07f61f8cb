"""The client's own retries: a policy as data, and the loops that follow it within a deadline.

gRPC retries UNAVAILABLE first, inside each try, by the service config (a few times within a
second or two). Its retry throttling stops that after a few failures in a row, so an ingest
restart (seconds) needs more: the client tries again on `Unavailable` (ingest or Redis away)
with jittered exponential backoff, and on `Backpressure` after the server's `retry_after` (when
it gave one), until the attempts are used up or the next try could not start before the call's
deadline: then the error is raised at once (a rate limit that frees up in a minute is
`Backpressure` now, not a `DeadlineExceeded` later). Every submit carries its idempotency key,
so no retry makes a second job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from feedback_queue.backoff import Backoff
from feedback_queue.client.errors import Backpressure, FbqError, Unavailable

T = TypeVar("T")
Clock = Callable[[], float]
# Told of each retry: the error, the try that failed (1-based), and the seconds until the next.
OnRetry = Callable[[FbqError, int, float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and after how long, the client tries a call again after `Unavailable` or
    `Backpressure`; `on_retry` is told of each retry (to log or count them)."""

    attempts: int = 6
    backoff: Backoff = field(default_factory=lambda: Backoff(base=0.1, cap=2.0))
    on_retry: OnRetry | None = field(default=None, compare=False)

    def delay(self, error: FbqError, attempt: int, remaining: float) -> float | None:
        """Seconds to wait after try `attempt` failed with `error`, with `remaining` seconds
        left of the deadline; None to give up and raise `error`."""
        if attempt >= self.attempts:
            return None
        if isinstance(error, Unavailable):
            wait = self.backoff.delay(attempt)
        elif isinstance(error, Backpressure) and error.retry_after is not None:
            wait = error.retry_after  # none: gRPC's own (a message too large) never passes
        else:
            return None
        return wait if wait < remaining else None

    def next_wait(self, error: FbqError, attempt: int, remaining: float) -> float | None:
        """`delay`, and `on_retry` told of it when there is one."""
        wait = self.delay(error, attempt, remaining)
        if wait is not None and self.on_retry is not None:
            self.on_retry(error, attempt, wait)
        return wait


NO_RETRIES = RetryPolicy(attempts=1)


async def retrying(
    policy: RetryPolicy,
    timeout: float,
    attempt: Callable[[float], Awaitable[T]],
    *,
    clock: Clock = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`await attempt(seconds left)` until it succeeds or `policy` gives up on its error."""
    deadline = clock() + timeout
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt(max(deadline - clock(), 0.0))
        except FbqError as error:
            wait = policy.next_wait(error, tries, deadline - clock())
            if wait is None:
                raise
        await sleep(wait)


def retrying_sync(
    policy: RetryPolicy,
    timeout: float,
    attempt: Callable[[float], T],
    *,
    clock: Clock = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`attempt(seconds left)` until it succeeds or `policy` gives up on its error."""
    deadline = clock() + timeout
    tries = 0
    while True:
        tries += 1
        try:
            return attempt(max(deadline - clock(), 0.0))
        except FbqError as error:
            wait = policy.next_wait(error, tries, deadline - clock())
            if wait is None:
                raise
        sleep(wait)
