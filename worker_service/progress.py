"""The worker's progress reporter: the latest report of each running job, written in batches.

A processor's `job.report(...)` only notes the report here (from the event loop or a processor
thread), replacing any unwritten one of the same job: memory is one report per running job. The
reporter writes what it holds every FBQ_PROGRESS_INTERVAL seconds, all jobs in one call
(progress.lua), so a chatty processor costs Redis one write per interval; the script also
refuses a job's report that comes sooner than half an interval after the last (the guard when
something else writes). Each written report renews its attempt's lease (reap.lua). An answer
that the attempt was cancelled or lost stops it at once (cancels.py), sooner than the next check.

Redis trouble: the reports stay (a newer one replaces them) and go at the next turn; a report of
an attempt that ended meanwhile is dropped: its outcome says more.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from feedback_queue.outcomes import Progressed
from feedback_queue.progress import Progress
from feedback_queue.queue import Queue
from worker_service.retrying import Spell, every_turn

log = logging.getLogger(__name__)


class Reporter:
    def __init__(
        self,
        queue: Queue,
        every: float,
        max_bytes: int,
        *,
        closing: asyncio.Event,
        stopped: Callable[[str, Progressed], None],
        turn: Callable[[float], None],
        monotonic: Callable[[], float],
    ) -> None:
        self.queue = queue
        self.every = every
        self.max_bytes = max_bytes
        self.closing = closing
        self.stopped = stopped  # the attempt of this job id was cancelled or lost
        self.turn = turn
        self._tokens: dict[str, str] = {}  # running job id -> its attempt's token
        self._pending: dict[str, Progress] = {}  # job id -> its latest unwritten report
        self._lock = threading.Lock()  # processor threads offer too
        self.writes = 0  # calls that wrote reports
        self._spell = Spell("writing progress reports", monotonic)

    def track(self, job_id: str, token: str) -> None:
        with self._lock:
            self._tokens[job_id] = token

    def untrack(self, job_id: str) -> None:
        with self._lock:
            self._tokens.pop(job_id, None)
            self._pending.pop(job_id, None)

    def offer(self, job_id: str, progress: Progress) -> None:
        with self._lock:
            if job_id in self._tokens:
                self._pending[job_id] = progress

    async def run(self) -> None:
        await every_turn(
            self.every, closing=self.closing, turn=self.turn, spell=self._spell, step=self.write
        )

    async def write(self) -> None:
        """Write every pending report in one call; on failure they stay (unless replaced)."""
        with self._lock:
            taken = [(i, self._tokens[i], p) for i, p in self._pending.items()]
            self._pending.clear()
        if not taken:
            return
        gap = int(self.every * 500)  # half an interval, in ms
        try:
            outcomes = await self.queue.report([(i, t, p.encode()) for i, t, p in taken], gap)
        except BaseException:
            with self._lock:
                for job_id, _, progress in taken:
                    if job_id in self._tokens:
                        self._pending.setdefault(job_id, progress)
            raise
        self.writes += 1
        for (job_id, _, _), outcome in zip(taken, outcomes, strict=True):
            if outcome in (Progressed.LOST, Progressed.CANCELLED):
                self.stopped(job_id, outcome)
