"""Stopping the attempts that were cancelled, or taken from this worker, while they run.

While the worker runs any job it asks Redis, every FBQ_CANCEL_CHECK seconds and in one
read-only call for all of them, whether each attempt still holds its job (held.lua). One that
does not was cancelled (its submission is CANCELLED) or lost (the worker was taken for dead
while frozen, and the job belongs to another attempt now). Its processor is told at once
through its context (`JobContext.cancelled`); FBQ_CANCEL_GRACE later its slot's task is
cancelled (a plain processor's thread cannot be: it counts as stuck until it returns,
threads.py). Nothing such an attempt returns or raises is written (`Worker._run_job`).

Redis unreachable: the attempts go on, and the next check after the outage tells them. Any
error is logged once per spell and the check tried again; the loop never ends before shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from feedback_queue.outcomes import Held
from feedback_queue.processing import JobContext
from feedback_queue.queue import Queue
from worker_service.retrying import Spell, every_turn

log = logging.getLogger(__name__)

REASONS = {
    Held.CANCELLED: "cancelled",
    Held.LOST: "taken from this worker (it was reaped or the job retried): another attempt owns it",
}


class CancelWatch:
    def __init__(
        self,
        queue: Queue,
        every: float,
        grace: float,
        *,
        closing: asyncio.Event,
        interrupt: Callable[[str], None],
        turn: Callable[[float], None],
        monotonic: Callable[[], float],
    ) -> None:
        self.queue = queue
        self.every = every
        self.grace = grace
        self.closing = closing
        self.interrupt = interrupt  # cancels the slot task running this job id
        self.turn = turn  # the loop's sign of life, with its planned wait (liveness.py)
        self.monotonic = monotonic
        self.running: dict[str, tuple[str, JobContext]] = {}  # job id -> token, its context
        self.revoked: dict[str, float] = {}  # job id -> when its task is cancelled
        self.checked = asyncio.Event()  # set after each check (tests await it)
        self._spell = Spell("checking for cancelled jobs", monotonic)

    def track(self, job_id: str, token: str, context: JobContext) -> None:
        self.running[job_id] = (token, context)

    def untrack(self, job_id: str) -> None:
        self.running.pop(job_id, None)
        self.revoked.pop(job_id, None)

    def is_revoked(self, job_id: str) -> bool:
        """Whether the attempt running `job_id` was stopped: write no outcome for it."""
        return job_id in self.revoked

    async def run(self) -> None:
        await every_turn(
            self.every,
            closing=self.closing,
            turn=self.turn,
            spell=self._spell,
            step=self.check,
            after=self.checked.set,
        )

    async def check(self) -> None:
        """Interrupt the stopped attempts whose grace is over; ask about the others."""
        now = self.monotonic()
        for job_id, due in list(self.revoked.items()):
            if due <= now:
                self.revoked[job_id] = float("inf")  # once
                self.interrupt(job_id)
        asking = [(i, token) for i, (token, _) in self.running.items() if i not in self.revoked]
        if not asking:
            return
        answers = await self.queue.held(asking)
        for (job_id, _), answer in zip(asking, answers, strict=True):
            if answer != Held.HELD and job_id in self.running:
                self.revoke(job_id, REASONS[answer])

    def revoke(self, job_id: str, reason: str) -> None:
        _, context = self.running[job_id]
        log.info("job %s attempt %d %s: stopping it", job_id, context.attempt, reason)
        context.stop.set(reason)
        self.revoked[job_id] = self.monotonic() + self.grace
