"""The worker's policy for Redis trouble, as tenacity objects built in one place.

Two kinds of trouble, two answers:

- **Transient** (`errors.is_transient`: connection refused, timeouts, READONLY or MASTERDOWN
  during a failover, LOADING after a restart, BUSY while a script runs, CLUSTERDOWN, TRYAGAIN):
  `RedisGuard.call` waits with full-jitter exponential backoff and tries again until its caller
  stops it. Waiting cures these; the first failure, each retry and the recovery are logged.
- **Everything else** (QueueFull when Redis is out of memory, QueueMisconfigured such as a
  revoked ACL permission, any other QueueError, and bugs): the guard lets it through, and the
  loop that called counts a `Spell`: logged when it starts and when it ends, never per attempt,
  with a backoff between attempts. Someone has to act on these; the loop keeps trying meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_never,
    wait_random_exponential,
)
from tenacity.stop import StopBaseT

from feedback_queue.errors import QueueError, is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

MULTIPLIER, MAX_WAIT = 0.05, 5.0


@dataclass
class RedisGuard:
    """Retries Redis calls through transient trouble; notices when Redis comes back."""

    sleep: Sleep
    # Called before each wait (the calling loop counts it as a sign of life) and on recovery.
    on_retry: Callable[[], None] = lambda: None
    on_recovery: Callable[[], Awaitable[None]] | None = None
    # Housekeeping logs its retries at DEBUG: the fetch loop already reports every outage.
    level: int = logging.WARNING
    multiplier: float = MULTIPLIER
    max_wait: float = MAX_WAIT
    failing_since: float | None = field(default=None, init=False)
    retries: int = field(default=0, init=False)

    def retrying(self, what: str, stop: StopBaseT = stop_never) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception(is_transient),
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
            except QueueError as exc:
                if not is_transient(exc):
                    raise
                self._first_failure(what, exc)

        async def attempt() -> T:  # a coroutine function, so tenacity awaits it
            return await fn()

        result: T = await self.retrying(what, stop)(attempt)
        if self.failing_since is not None:
            log.log(
                min(self.level, logging.INFO),
                "Redis is back: %s succeeded after %d retries (%.1fs)",
                what,
                self.retries,
                time.monotonic() - self.failing_since,
            )
            self.failing_since, self.retries = None, 0
            if self.on_recovery:
                await self.on_recovery()
        return result

    def _first_failure(self, what: str, exc: QueueError) -> None:
        self.failing_since = time.monotonic()
        log.log(self.level, "%s failed, retrying: %s", what, exc)

    def _before_sleep(self, what: str, state: RetryCallState) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        self.retries += 1
        wait = state.next_action.sleep if state.next_action else 0.0
        error = state.outcome.exception() if state.outcome else None
        log.log(self.level, "%s failed (retry %d in %.2fs): %s", what, self.retries, wait, error)
        self.on_retry()


@dataclass
class Spell:
    """A run of failures of one background loop that waiting alone will not cure.

    `failed` logs the first failure of a spell (a QueueError by its message, anything else with
    its traceback) and answers how long to wait before the next attempt: full-jitter exponential
    backoff, as the guard's. `over` logs the end of the spell, once.
    """

    what: str
    monotonic: Callable[[], float] = time.monotonic
    multiplier: float = MULTIPLIER
    max_wait: float = MAX_WAIT
    rng: random.Random = field(default_factory=random.Random)
    since: float | None = field(default=None, init=False)  # on the `monotonic` clock
    attempts: int = field(default=0, init=False)

    def failed(self, exc: Exception) -> float:
        """Note a failed attempt; the seconds to wait before the next one."""
        if self.since is None:
            self.since = self.monotonic()
            if isinstance(exc, QueueError):
                log.error("%s failed, will keep trying: %s", self.what, exc)
            else:
                log.error("%s failed, will keep trying", self.what, exc_info=exc)
        self.attempts += 1
        return self.rng.uniform(0, min(self.max_wait, self.multiplier * 2**self.attempts))

    def over(self) -> None:
        """Note a success: the spell, if any, is over."""
        if self.since is not None:
            log.info(
                "%s works again after %d failed attempts (%.1fs)",
                self.what,
                self.attempts,
                self.monotonic() - self.since,
            )
            self.since, self.attempts = None, 0

    def longer_than(self, seconds: float) -> bool:
        """Whether the current spell has lasted `seconds` or more."""
        return self.since is not None and self.monotonic() - self.since >= seconds


async def every_turn(
    every: float,
    *,
    closing: asyncio.Event,
    turn: Callable[[float], None],
    spell: Spell,
    step: Callable[[], Awaitable[None]],
    after: Callable[[], None] = lambda: None,
) -> None:
    """A background loop: `step` every `every` seconds until `closing`, each bounded by
    `every` + MAX_WAIT; its failures are logged once per spell (an outage not at all: the
    fetch loop's guard says so already) and never end the loop. `turn` notes each sign of life
    with the wait planned next (liveness.py); `after` runs after each step."""
    while not closing.is_set():
        turn(every)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await closing.wait()
        if closing.is_set():
            return
        turn(every + MAX_WAIT)
        try:
            async with asyncio.timeout(every + MAX_WAIT):
                await step()
        except Exception as exc:  # no error may end the loop; the next turn tries again
            if not is_transient(exc):
                spell.failed(exc)
        else:
            spell.over()
        after()
