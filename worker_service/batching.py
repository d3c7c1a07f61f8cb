"""The outcomes of finished attempts, written to Redis in batches.

A slot records its job's outcome here (`ack` or `fail`) and goes on; whatever finished while the
previous write was in flight goes in the next one. Acks travel two ways: the fetch loop's take
carries some in the same round trip (`claim_for_take`), the flusher writes the rest (`flush`).
Each ack is claimed by exactly one call, and a call that gives up puts its acks back, so none is
lost or sent twice by this process; both scripts are replay-safe anyway. Until an outcome is
written its job stays in the worker's processing list: a worker that dies first has it run again
(at-least-once), never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence

from tenacity.stop import StopBaseT

from feedback_queue.job import Status
from feedback_queue.outcomes import Acked
from feedback_queue.queue import Failure, Queue
from feedback_queue.queue.values import Ack
from worker_service.retrying import RedisGuard

log = logging.getLogger(__name__)


class OutcomeBatch:
    def __init__(self, queue: Queue, worker_id: str, guard: RedisGuard) -> None:
        self.queue = queue
        self.worker_id = worker_id
        self.guard = guard
        # The flusher waits on this. The worker sets it once a job's slot is free, after waking
        # the fetch loop: a take then goes first and carries the ack in its own round trip (at
        # low concurrency, one round trip per job instead of two).
        self.wake = asyncio.Event()
        self._acks: list[Ack] = []  # (id, token, result): finished, not yet sent
        self._sending: set[str] = set()  # ids sent by a call that has not answered yet
        self._failures: list[Failure] = []
        self._lock = asyncio.Lock()  # one flush at a time

    def ack(self, job_id: str, token: str, result: str) -> None:
        self._acks.append((job_id, token, result))

    def fail(self, failure: Failure) -> None:
        self._failures.append(failure)

    def claim_for_take(self, count: int, concurrency: int, few: int) -> list[Ack]:
        """The acks a take of `count` jobs should carry: all of them when they are at most
        `few` or the take fills half the slots or more (WorkerConfig.acks_per_take), else none."""
        if len(self._acks) <= few or count * 2 >= concurrency:
            return self._claim()
        return []

    def _claim(self) -> list[Ack]:
        """Every pending ack, now to be sent by the caller (see `sending`)."""
        acks = self._acks[:]
        del self._acks[:]
        return acks

    @contextlib.asynccontextmanager
    async def sending(self, acks: list[Ack]) -> AsyncIterator[None]:
        """While a call carries `acks`; if it gives up, they go back for the next flush."""
        ids = [job_id for job_id, _, _ in acks]
        self._sending.update(ids)
        try:
            yield
        except BaseException:
            self._acks[:0] = acks
            raise
        finally:
            self._sending.difference_update(ids)

    async def flush(self, stop: StopBaseT) -> int:
        """Write the acks and failures gathered so far, one flush at a time; how many it wrote.

        Transient trouble is retried until `stop` says so; any other error is raised after both
        kinds were tried (acks that cannot be written do not hold up failures), and whatever was
        not written stays for the next flush. A flush given up at shutdown leaves its items for
        the final one (acks and failures are replay-safe).
        """
        worker, queue = self.worker_id, self.queue
        written = 0
        error: Exception | None = None
        async with self._lock:
            acks = self._claim()
            if acks:
                try:
                    async with self.sending(acks):
                        acked = await self.guard.call("ack", lambda: queue.ack(worker, acks), stop)
                    self.refused_acks(acks, acked)
                    written += len(acks)
                except Exception as exc:  # raised below, after the failures
                    error = exc
            failures = self._failures[:]
            if failures:
                statuses = await self.guard.call("fail", lambda: queue.fail(worker, failures), stop)
                del self._failures[: len(failures)]
                self._refused_failures(failures, statuses)
                written += len(failures)
        if error is not None:
            raise error
        return written

    def refused_acks(self, acks: Sequence[Ack], outcomes: Sequence[Acked]) -> None:
        """Warn of the acks Redis refused: their attempt was no longer this worker's."""
        for (job_id, _, _), outcome in zip(acks, outcomes, strict=True):
            if outcome == Acked.STALE:
                log.warning(
                    "ack of job %s refused: its attempt is no longer ours (reaped or retried); "
                    "the job runs again",
                    job_id,
                )

    def _refused_failures(
        self, failures: Sequence[Failure], statuses: Sequence[Status | None]
    ) -> None:
        for failure, status in zip(failures, statuses, strict=True):
            if status is None:
                log.warning(
                    "failure of job %s attempt %d refused: the attempt is no longer ours",
                    failure.job.id,
                    failure.job.attempts,
                )

    @property
    def pending(self) -> bool:
        """Whether some outcome is not written yet."""
        return bool(self._acks or self._sending or self._failures)

    def unwritten(self) -> Iterator[str]:
        """The ids whose outcome is not written yet: their jobs must stay in the worker's list."""
        yield from (job_id for job_id, _, _ in self._acks)
        yield from self._sending
        yield from (f.job.id for f in self._failures)
