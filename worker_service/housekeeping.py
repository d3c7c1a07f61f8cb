"""The worker's housekeeping loop: its heartbeat, and the fleet's chores while it holds the lease.

Every worker beats into the registry. The one holding the housekeeping lease also promotes due
retries, reaps the jobs of silent workers, and once a sweep interval sweeps expired keys and
hands back processing lists whose worker is not registered. Transient Redis trouble is
retried through a `RedisGuard` that logs at DEBUG (the fetch loop reports outages); any other
error is logged once per spell, and the loop tries again after a backoff. It ends only when
`closing` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from worker_service.retrying import MAX_WAIT, RedisGuard, Sleep, Spell

log = logging.getLogger(__name__)

HOUSEKEEPING_LEASE = "housekeeping"
T = TypeVar("T")


class Housekeeper:
    def __init__(
        self,
        queue: Queue,
        worker_id: str,
        config: WorkerConfig,
        *,
        closing: asyncio.Event,
        turn: Callable[[float], None],
        sleep: Sleep,
        monotonic: Callable[[], float],
        chores: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self.queue = queue
        self.chores = chores  # this worker's own, every turn (sending its histograms' counts)
        self.worker_id = worker_id
        self.config = config
        self.closing = closing
        self.turn = turn  # a sign of life, with the wait planned next
        self.monotonic = monotonic
        self.guard = RedisGuard(sleep, on_retry=lambda: turn(MAX_WAIT), level=logging.DEBUG)
        self.spell = Spell("housekeeping", monotonic)
        self.last_beat = self.last_sweep = float("-inf")

    @property
    def heartbeat_every(self) -> float:
        """A third of the grace the reaper allows, and at least every 5 s."""
        return min(self.queue.config.heartbeat_grace / 3, 5.0)

    async def run(self) -> None:
        """Turn every `housekeeping_every` seconds until `closing` is set."""
        every = self.config.housekeeping_every
        while not self.closing.is_set():
            self.turn(every)
            wait = every
            try:
                await self.turn_once()
            except Exception as exc:  # no error may end the loop
                if self.closing.is_set():
                    return
                wait = max(every, self.spell.failed(exc))
                self.turn(wait)
            else:
                self.spell.over()
                # Beat on time, not on the next tick: a gap of half the grace in the fleet's
                # beats means an outage to the reaper (beat.lua).
                wait = min(wait, max(self.last_beat + self.heartbeat_every - self.monotonic(), 0))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self.closing.wait()

    async def turn_once(self) -> None:
        """Beat when due; then, while this worker holds the lease: promote, reap, sweep."""
        queue, me, now = self.queue, self.worker_id, self.monotonic()
        if now - self.last_beat >= self.heartbeat_every:
            await self.beat()
        for chore in self.chores:
            await self._redis("chore", chore)
        lease = max(self.config.housekeeping_every * 3, 1.0)
        if not await self._redis("lease", lambda: queue.hold_lease(HOUSEKEEPING_LEASE, me, lease)):
            return
        await self._redis("promote", queue.promote_due)
        adopted = await self._redis("adopt", queue.adopt_waiting)
        if adopted:
            log.warning("moved %d waiting jobs of an older version into their lanes", adopted)
        # The reaper beats right before it reaps (a turn held up by an outage would otherwise
        # judge the others by beats the outage made stale): reapable.lua relies on it.
        if self.monotonic() - self.last_beat >= self.heartbeat_every / 2:
            await self.beat()
        reaped = await self._redis("reap", queue.reap)
        if reaped:
            log.warning("returned %d jobs of silent workers to waiting", reaped)
        if now - self.last_sweep >= self.config.sweep_every:
            await self._redis("sweep", queue.sweep)
            orphaned = await self._redis("orphans", queue.reap_orphans)
            if orphaned:
                log.warning(
                    "returned %d jobs of unregistered processing lists to waiting", orphaned
                )
            self.last_sweep = now

    async def beat(self) -> None:
        """This worker's heartbeat; `last_beat` is when it was written."""
        await self._redis("heartbeat", lambda: self.queue.heartbeat(self.worker_id))
        self.last_beat = self.monotonic()

    async def _redis(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        return await self.guard.call(what, fn, lambda _state: self.closing.is_set())
