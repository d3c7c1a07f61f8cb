"""The worker's policy for Redis trouble, as tenacity objects built in one place.

Every Redis call of the worker goes through `RedisGuard.call`: on QueueUnavailable (connection
refused, timeouts, READONLY during a failover, LOADING after a restart, refused credentials) it
waits with full-jitter exponential backoff and tries again until the worker is told to stop. Each
retry is logged once, and so is the recovery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_random_exponential,
)
from tenacity.stop import StopBaseT

from feedback_queue.errors import QueueUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class RedisGuard:
    """Retries Redis calls through outages; notices when Redis comes back."""

    sleep: Sleep
    # Called before each wait (the worker counts it as a sign of life) and on recovery.
    on_retry: Callable[[], None] = lambda: None
    on_recovery: Callable[[], Awaitable[None]] | None = None
    multiplier: float = 0.05
    max_wait: float = 5.0
    failing_since: float | None = field(default=None, init=False)
    retries: int = field(default=0, init=False)

    def retrying(self, what: str, stop: StopBaseT = stop_never) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(QueueUnavailable),
            wait=wait_random_exponential(multiplier=self.multiplier, max=self.max_wait),
            stop=stop,
            sleep=self.sleep,
            before_sleep=lambda state: self._before_sleep(what, state),
            reraise=True,
        )

    async def call(
        self, what: str, fn: Callable[[], Awaitable[T]], stop: StopBaseT = stop_never
    ) -> T:
        if self.failing_since is None:
            try:  # the fast path: no retry machinery while Redis is well
                return await fn()
            except QueueUnavailable as exc:
                self._first_failure(what, exc)

        async def attempt() -> T:  # a coroutine function, so tenacity awaits it
            return await fn()

        result: T = await self.retrying(what, stop)(attempt)
        if self.failing_since is not None:
            log.info(
                "Redis is back: %s succeeded after %d retries (%.1fs)",
                what,
                self.retries,
                time.monotonic() - self.failing_since,
            )
            self.failing_since, self.retries = None, 0
            if self.on_recovery:
                await self.on_recovery()
        return result

    def _first_failure(self, what: str, exc: QueueUnavailable) -> None:
        self.failing_since = time.monotonic()
        log.warning("%s failed, retrying: %s", what, exc)

    def _before_sleep(self, what: str, state: RetryCallState) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        self.retries += 1
        wait = state.next_action.sleep if state.next_action else 0.0
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (retry %d in %.2fs): %s", what, self.retries, wait, error)
        self.on_retry()
