"""The worker's liveness: the rule Kubernetes restarts a worker by (gRPC service "liveness").

Liveness fails when:
- a loop is stuck: the fetch loop, or a background loop (flusher, housekeeping, watchdog,
  cancels, progress), has not turned within the window. Each loop notes every turn with the
  wait it plans next, so a loop waiting on purpose (an idle flusher, housekeeping between
  rounds, a backoff) is not stuck;
- a background loop has ended: they end only at shutdown, so one that ended has died;
- outcomes (acks, failures) have stayed unwritable for the whole window because of an error
  that waiting alone does not cure (Redis out of memory, a revoked ACL permission, a bug; see
  `errors.is_transient`). The restart hands the worker's jobs to the reaper, which runs them
  again: at-least-once, as after a crash;
- every processor thread has been stuck for the whole window in a job whose attempt already
  ended (threads.py): the worker can run nothing until a restart gives it new threads. Those
  attempts have failed already and are retried as usual. Some threads stuck, not all, only
  lower the worker's capacity: it stays live.
Transient trouble (Redis down, BUSY, LOADING, a failover) never fails liveness, however long it
lasts: the worker is well and Redis is not; readiness says so, and a restart would not help.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Liveness:
    def __init__(self, worker_id: str, monotonic: Callable[[], float]) -> None:
        self.worker_id = worker_id
        self.monotonic = monotonic
        self.due: dict[str, float] = {"fetch": monotonic()}  # loop -> its next turn, at latest
        self.loops: dict[str, asyncio.Task[None]] = {}  # the background loops, by name
        # Whether outcomes have been unwritable, for a reason waiting will not cure, this long.
        self.stalled: Callable[[float], bool] = lambda _window: False
        # Whether every processor thread has been stuck (threads.py) this long.
        self.threads_stuck: Callable[[float], bool] = lambda _window: False
        self._well = True

    def turn(self, loop: str, wait: float = 0.0) -> None:
        """A loop's sign of life: it turns now and plans to wait `wait` seconds."""
        self.due[loop] = self.monotonic() + wait

    def reasons(self, window: float) -> list[str]:
        """Why liveness fails, if it does."""
        now = self.monotonic()
        reasons = [f"the {name} loop ended" for name, task in self.loops.items() if task.done()]
        reasons += [
            f"the {name} loop is stuck ({now - due:.0f}s late)"
            for name, due in self.due.items()
            if now - due >= window
        ]
        if self.stalled(window):
            reasons.append(f"outcomes unwritable for {window:g}s or more")
        if self.threads_stuck(window):
            reasons.append(f"every processor thread stuck for {window:g}s or more")
        return reasons

    def check(self, window: float) -> bool:
        """Live or not; logs why, once, when it stops being live."""
        reasons = self.reasons(window)
        if reasons and self._well:
            log.warning("worker %s is not live: %s", self.worker_id, "; ".join(reasons))
        self._well = not reasons
        return not reasons
