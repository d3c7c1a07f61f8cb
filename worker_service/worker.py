"""The worker: one fetch loop, `concurrency` slots, batched acks, housekeeping, clean shutdown.

The fetch loop takes work only for free slots (no hoarding): the take script, which chooses
fairly among the keys with waiting work and moves the jobs into the worker's own processing
list; when there is none, it waits on the queue's wake list (BLPOP) and takes again. Finished
jobs' outcomes are written in batches (batching.py): whatever finished while the previous batch
was in flight goes in the next. A job whose ack was not yet written when the worker died is still
in its processing list, so the reaper runs it again: at-least-once, never lost.

The background loops (flusher, housekeeping, watchdog) never end before shutdown. Transient
Redis trouble (down, BUSY, LOADING, a failover: `errors.is_transient`) is retried with backoff
through `RedisGuard`; anything else, from QueueFull (OOM) and a revoked ACL permission to a bug,
is logged once per spell and tried again with backoff (`Spell`). Nothing unwritten is dropped.
When liveness fails is liveness.py's to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import DecodeError
from tenacity import stop_after_delay

from feedback_queue.errors import InvalidSubmission, QueueError
from feedback_queue.job import Job
from feedback_queue.outcomes import Held, Progressed
from feedback_queue.processing import JobContext, PermanentError, RetryableError
from feedback_queue.queue import Failure, Queue, Taken
from feedback_queue.settings import Bounds, WorkerConfig
from feedback_queue.tracing import Tracing
from worker_service.batching import OutcomeBatch
from worker_service.cancels import REASONS, CancelWatch
from worker_service.housekeeping import HOUSEKEEPING_LEASE, Housekeeper
from worker_service.liveness import Liveness
from worker_service.metrics import Timings, WorkerMetrics
from worker_service.processors import Processor
from worker_service.progress import Reporter
from worker_service.retrying import MAX_WAIT, RedisGuard, Sleep, Spell
from worker_service.threads import JobThreads

log = logging.getLogger(__name__)

T = TypeVar("T")


def make_worker_id() -> str:
    """host-pid-random: unique, readable in logs, safe in a Redis key."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def too_large(size: int, cap: int) -> str:
    """The last_error of an attempt whose result was over FBQ_MAX_RESULT_BYTES."""
    return (
        f"the processor's result is {size} bytes, over the {cap} a result may take "
        "(FBQ_MAX_RESULT_BYTES): make it smaller, or raise the cap"
    )


class Worker:
    def __init__(
        self,
        queue: Queue,
        processor: Processor,
        config: WorkerConfig,
        *,
        worker_id: str | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        max_result_bytes: int = Bounds.max_result_bytes,
        max_progress_bytes: int = Bounds.max_progress_bytes,
        metrics: WorkerMetrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.tracing = tracing
        self.queue = queue
        self.max_result_bytes = max_result_bytes
        self.processor = processor
        self.config = config
        self.id = worker_id or make_worker_id()
        self.monotonic = monotonic
        self.liveness = Liveness(self.id, monotonic)
        self.turns = 0
        self.turned = asyncio.Event()  # set at every turn of the fetch loop (tests await it)
        self.flushed = asyncio.Event()  # set whenever the flusher wrote outcomes (tests too)
        self.inflight: dict[str, asyncio.Task[None]] = {}  # job id -> the slot running it
        self._ready: asyncio.Queue[Job] = asyncio.Queue()  # taken, not yet picked by a slot
        self._handed: set[str] = set()  # the ids in _ready
        self._slots: list[asyncio.Task[None]] = []
        self._deadlines: dict[str, float] = {}
        self._timed_out: set[str] = set()
        self.processed = self.failed = 0
        self.registered = False
        self._stopping = asyncio.Event()
        self._closing = asyncio.Event()  # background loops end once this is set
        self._slot_free = asyncio.Event()
        self._not_taking = asyncio.Event()  # clear while a take is in flight
        self._not_taking.set()
        self._guard = RedisGuard(sleep, on_retry=self._turned, on_recovery=self._outage_over)
        flush_guard = RedisGuard(sleep, on_retry=lambda: self.liveness.turn("flusher", MAX_WAIT))
        self._outcomes = OutcomeBatch(queue, self.id, flush_guard)
        self._flush_spell = Spell("writing outcomes", monotonic)
        self._fetch_spell = Spell("fetching", monotonic)
        self.metrics = metrics
        self.timings = Timings(queue, self.id)
        self._housekeeper = Housekeeper(
            queue,
            self.id,
            config,
            closing=self._closing,
            turn=lambda wait: self.liveness.turn("housekeeping", wait),
            sleep=sleep,
            monotonic=monotonic,
            chores=[self.timings.send] if metrics is not None else [],
        )
        self._recover_pending = False
        self._began: dict[str, float] = {}  # job id -> when its attempt began (monotonic)
        self._interrupted: set[str] = set()  # stopped attempts whose task we cancelled
        self.cancels = CancelWatch(
            queue,
            config.cancel_check,
            config.cancel_grace,
            closing=self._closing,
            interrupt=self._interrupt,
            turn=lambda wait: self.liveness.turn("cancels", wait),
            monotonic=monotonic,
        )
        self.progress = Reporter(
            queue,
            config.progress_interval,
            max_progress_bytes,
            closing=self._closing,
            stopped=self._lost_or_cancelled,
            turn=lambda wait: self.liveness.turn("progress", wait),
            monotonic=monotonic,
        )
        self.liveness.stalled = lambda window: (
            self._flush_spell.longer_than(window) and self._outcomes.pending
        )
        # Deadlines, and the processor threads stuck in attempts that ended (threads.py).
        self.threads = JobThreads(
            processor.threads, self._deadlines, config.job_timeout, monotonic, self._slot_free.set
        )
        self.liveness.threads_stuck = self.threads.all_stuck_longer_than

    # -- control ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop fetching; running jobs get `shutdown_grace` to finish."""
        if not self._stopping.is_set():
            log.info("worker %s stopping: %d jobs in flight", self.id, len(self.inflight))
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def alive(self, window: float) -> bool:
        """No loop stuck or dead, outcomes not stalled (liveness.py has the rule); a worker
        shutting down is live (its loops end on purpose, within the graces)."""
        return self._closing.is_set() or self.liveness.check(window)

    async def run(self, *, burst: bool = False) -> None:
        """Work until `stop()` (or, in burst mode, until nothing is left to do)."""
        await self._redis("register", lambda: self.queue.heartbeat(self.id))
        self.registered = True
        log.info(
            "worker %s taking from queue %s with %d slots (processor %s%s)",
            self.id,
            self.queue.name,
            self.config.concurrency,
            self.processor.name,
            ", burst" if burst else "",
        )
        # One long-lived task per slot: a task per job would cost more than the job's own await.
        self._slots = [asyncio.create_task(self._slot()) for _ in range(self.config.concurrency)]
        self.liveness.loops = {
            "flusher": asyncio.create_task(self._flusher()),
            "housekeeping": asyncio.create_task(self._housekeeper.run()),
            "watchdog": asyncio.create_task(self._watchdog()),
            "cancels": asyncio.create_task(self.cancels.run()),
            "progress": asyncio.create_task(self.progress.run()),
        }
        try:
            await self._fetch_loop(burst)
        finally:
            await self._shutdown()

    # -- fetching -----------------------------------------------------------------------------

    def _turned(self) -> None:
        self.liveness.turn("fetch")
        self.turns += 1
        self.turned.set()

    async def _fetch_loop(self, burst: bool) -> None:
        while not self.stopping:
            try:
                if not await self._fetch_once(burst):
                    return
            except QueueError as exc:  # not transient (the guard retries those): log it once
                if self.stopping:
                    return
                delay = self._fetch_spell.failed(exc)
                await self._wait(self._stopping, max(delay, self.config.block_timeout))
            else:
                self._fetch_spell.over()

    async def _fetch_once(self, burst: bool) -> bool:
        """One turn of the fetch loop; False when a burst is done."""
        cfg = self.config
        self._turned()
        if self._recover_pending:
            # Here, between takes, every job this worker took is in `inflight` or flushing.
            self._recover_pending = False
            await self._redis("recover", self._recover)
        free = self._free()
        if free <= 0:
            await self._wait(self._slot_free, cfg.block_timeout)
            return True
        if free < cfg.min_batch and self.inflight:
            # Linger a moment so that one take fills several slots: under load this trades a
            # millisecond or two of latency for far fewer round trips.
            await self._wait(self._slot_free, cfg.linger)
            free = self._free()
        taken = await self._take(free)
        if not taken.jobs and not taken.paused and not taken.wait:
            if burst:
                if self.inflight or self._handed:
                    await self._wait(self._slot_free, cfg.block_timeout)
                    return True
                return bool(await self._redis("promote", self.queue.promote_due))
            held = taken.held
            taken = await self._redis(
                "wait", lambda: self.queue.wait_for_work(self.id, free, cfg.block_timeout, held)
            )
        if taken.paused or taken.wait:
            # Paused or rate-limited: look again within a second, sooner if the limit says.
            await self._wait(self._stopping, min(taken.wait or cfg.block_timeout, 1.0))
            return True
        for job in taken.jobs:
            self._handed.add(job.id)
            self._ready.put_nowait(job)
        return True

    def _free(self) -> int:
        """Slots neither running a job nor about to start one, nor lost to a stuck thread."""
        busy = len(self.inflight) + len(self._handed) + self.threads.stuck
        return self.config.concurrency - busy

    async def _take(self, count: int) -> Taken:
        """Take up to `count` jobs, writing the acks gathered so far in the same round trip when
        they are few or the take is large (see WorkerConfig.acks_per_take).

        It does not wait for an ack flush under way (the flusher waits for it instead): the two
        calls carry different acks, and Redis runs one script while this process works on the
        other's answer.
        """
        cfg = self.config
        acks = self._outcomes.claim_for_take(count, cfg.concurrency, cfg.acks_per_take)
        self._not_taking.clear()
        try:
            async with self._outcomes.sending(acks):
                call = lambda: self.queue.ack_take(self.id, acks, count)  # noqa: E731
                acked, taken = await self._redis("take", call)
            self._outcomes.refused_acks(acks, acked)
        finally:
            self._not_taking.set()
        return taken

    async def _wait(self, event: asyncio.Event, seconds: float) -> None:
        """Until `event` is set or `seconds` pass; wake-up events are cleared, states are not."""
        if not event.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):  # no extra task, unlike wait_for
                    await event.wait()
        if event in (self._slot_free, self._outcomes.wake):
            event.clear()

    async def _redis(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """A Redis call of the fetch loop: retried through outages until the worker stops."""
        return await self._guard.call(what, fn, lambda _state: self.stopping)

    # -- running ------------------------------------------------------------------------------

    async def _slot(self) -> None:
        """One slot: run the jobs the fetch loop hands over, one after another."""
        me = asyncio.current_task()
        assert me is not None
        while True:
            job = await self._ready.get()
            self._handed.discard(job.id)
            self.inflight[job.id] = me
            await self._run_job(job)

    async def _attempt(self, job: Job) -> str:
        """Run the processor on one attempt: followed for cancels and progress, timed, in its
        trace span when its submission was traced."""
        context = JobContext(
            job.id, job.submission, job.attempts, self.queue.max_attempts, sink=self.progress
        )
        self.cancels.track(job.id, job.token, context)
        self.progress.track(job.id, job.token)
        self._began[job.id] = self.monotonic()
        if self.metrics is not None:
            self.metrics.started(job, self.timings.tally)
        # The watchdog enforces the deadline: one timer for all jobs, not one per job.
        self.threads.start(context)  # a plain processor's: from when a thread starts it
        if self.tracing is not None and job.record.trace:
            with self.tracing.attempt(job.record.trace, job.submission.kind, self._span(job)):
                return await self.processor(context)
        return await self.processor(context)

    async def _run_job(self, job: Job) -> None:
        try:
            result = await self._attempt(job)
        except asyncio.CancelledError:
            if job.id in self._interrupted:
                self._interrupted.discard(job.id)
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                self._stopped(job)
                return
            if job.id not in self._timed_out:
                raise  # shutdown: the job goes back to waiting with the rest
            self._timed_out.discard(job.id)
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            self._failed(job, f"timed out after {self.config.job_timeout:g}s (FBQ_JOB_TIMEOUT)")
        except (PermanentError, InvalidSubmission, DecodeError) as exc:
            detail = exc.detail if isinstance(exc, PermanentError) else ""
            self._failed(job, f"{type(exc).__name__}: {exc}", permanent=True, detail=detail)
        except RetryableError as exc:
            self._failed(job, str(exc), retry_after=exc.retry_after, detail=exc.detail)
        except Exception as exc:
            log.warning("job %s attempt %d raised", job.id, job.attempts, exc_info=True)
            self._failed(job, f"{type(exc).__name__}: {exc}")
        else:
            if self.cancels.is_revoked(job.id):
                self._stopped(job)
                return
            if (size := len(result.encode())) > self.max_result_bytes:
                # Stored, it would make the submission unreadable (every read carries it);
                # another attempt would most likely make as large a one.
                self._failed(job, too_large(size, self.max_result_bytes), permanent=True)
                return
            self._outcomes.ack(job.id, job.token, result)
            self._timed(job, "completed")
            self.processed += 1
        finally:
            self._began.pop(job.id, None)
            self.cancels.untrack(job.id)
            self.progress.untrack(job.id)
            self.threads.end(job.id)  # a thread still in the job now counts as stuck
            self._deadlines.pop(job.id, None)
            self.inflight.pop(job.id, None)
            # The fetch loop first, then the flusher (see OutcomeBatch.wake).
            self._slot_free.set()
            self._outcomes.wake.set()

    async def _watchdog(self) -> None:
        """Cancel jobs past FBQ_JOB_TIMEOUT; checks four times per timeout, at most every 1 s."""
        every = min(self.config.job_timeout / 4, 1.0)
        spell = Spell("the job watchdog", self.monotonic)
        while not self._closing.is_set():
            self.liveness.turn("watchdog", every)
            await self._wait(self._closing, every)
            try:
                self._cancel_overdue()
            except Exception as exc:  # no bug may end the loop
                spell.failed(exc)
            else:
                spell.over()

    def _cancel_overdue(self) -> None:
        now = self.monotonic()
        for job_id, deadline in list(self._deadlines.items()):
            task = self.inflight.get(job_id)
            if deadline <= now and task is not None and job_id not in self._timed_out:
                self._timed_out.add(job_id)
                task.cancel()

    def _lost_or_cancelled(self, job_id: str, outcome: Progressed) -> None:
        """A progress report found its attempt cancelled or lost: stop it now."""
        if job_id in self.cancels.running and not self.cancels.is_revoked(job_id):
            held = Held.CANCELLED if outcome == Progressed.CANCELLED else Held.LOST
            self.cancels.revoke(job_id, REASONS[held])

    def _interrupt(self, job_id: str) -> None:
        """Cancel the task of a stopped attempt whose grace is over (CancelWatch)."""
        task = self.inflight.get(job_id)
        if task is not None and job_id not in self._timed_out:
            self._interrupted.add(job_id)
            task.cancel()

    def _stopped(self, job: Job) -> None:
        """An attempt stopped from outside ended: nothing of it is written (cancels.py)."""
        self._interrupted.discard(job.id)
        self._timed(job, "stopped")
        log.info("job %s attempt %d stopped; its outcome is not written", job.id, job.attempts)

    def _span(self, job: Job) -> dict[str, str | int]:
        """The attributes of an attempt's span (tracing.py)."""
        rec = job.record
        return {
            "messaging.system": "feedback-queue",
            "messaging.destination.name": self.queue.name,
            "messaging.message.id": job.id,
            "fbq.attempt": job.attempts,
            "fbq.worker": self.id,
            # Both ends stamped by Redis's clock: no host clock takes part.
            "fbq.queue_wait_ms": max(rec.started_ms - rec.enqueued_ms, 0),
        }

    def _timed(self, job: Job, outcome: str) -> None:
        """Count how long the attempt ran, and how it ended (metrics.py)."""
        began = self._began.get(job.id)
        if self.metrics is not None and began is not None:
            seconds = self.monotonic() - began
            self.metrics.ended(job, seconds, outcome, self.timings.tally)

    def _failed(
        self,
        job: Job,
        error: str,
        *,
        permanent: bool = False,
        retry_after: float = 0.0,
        detail: str = "",
    ) -> None:
        if self.cancels.is_revoked(job.id):
            self._stopped(job)
            return
        # `detail` may quote the submission: stored with the error, kept out of the log.
        log.info("job %s attempt %d failed: %s", job.id, job.attempts, error)
        stored = f"{error}: {detail}" if detail else error
        self._outcomes.fail(Failure(job, stored, permanent, retry_after))
        self._timed(job, "failed")
        self.failed += 1

    async def _flusher(self) -> None:
        every, closing = self.config.block_timeout, self._closing
        while not closing.is_set():
            self.liveness.turn("flusher", every)
            await self._wait(self._outcomes.wake, every)
            # A take under way goes first: its jobs wait for its reply, acks wait for nobody.
            # Meanwhile acks gather into one call; it then runs in Redis while the take's jobs
            # run here. A take retried through an outage holds us here: still a sign of life.
            while not self._not_taking.is_set() and not closing.is_set():
                self.liveness.turn("flusher", every)
                await self._wait(self._not_taking, every)
            try:
                written = await self._outcomes.flush(lambda _state: closing.is_set())
            except Exception as exc:  # no error may end the loop
                if closing.is_set():
                    return  # the final flush at shutdown tries again
                delay = self._flush_spell.failed(exc)
                self.liveness.turn("flusher", delay)
                await self._wait(closing, delay)
                self._outcomes.wake.set()  # and then try again at once
                continue
            if written or not self._outcomes.pending:
                self._flush_spell.over()
            if written:
                self.flushed.set()

    async def _outage_over(self) -> None:
        self._recover_pending = True

    async def _recover(self) -> None:
        """After an outage: hand back jobs a lost reply left in our list without our knowing.

        Jobs running, handed to a slot, or finished and waiting for their ack or failure to be
        written, stay.
        """
        keep = [*self.inflight, *self._handed, *self._outcomes.unwritten()]
        returned = await self.queue.recover(self.id, keep=keep)
        if returned:
            log.warning("handed back %d jobs taken by a reply that was lost", returned)

    # -- shutdown -----------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        await self._leave()
        if self.metrics is not None:
            try:  # what it counted since its last turn; at worst lost, never counted twice
                await asyncio.wait_for(self.timings.send(), self.config.shutdown_grace)
            except (QueueError, TimeoutError) as exc:
                log.warning("the last histogram counts were not sent: %s", exc or "timed out")

    async def _leave(self) -> None:
        cfg = self.config
        if self.inflight:
            log.info("waiting up to %gs for %d jobs", cfg.shutdown_grace, len(self.inflight))
            deadline = self.monotonic() + cfg.shutdown_grace
            while self.inflight and self.monotonic() < deadline:
                await self._wait(self._slot_free, deadline - self.monotonic())
        # Slots still running a job are cancelled: those jobs go back to waiting with leave().
        for task in self._slots:
            task.cancel()
        if self._slots:  # bounded: a processor that swallows cancellation must not hold us
            await asyncio.wait(self._slots, timeout=1.0)
        # Background loops end at their next turn; a flush under way finishes (or gives up).
        self._closing.set()
        self._outcomes.wake.set()
        _, stuck = await asyncio.wait(self.liveness.loops.values(), timeout=cfg.shutdown_grace)
        for task in stuck:
            task.cancel()
        try:
            await asyncio.wait_for(
                self._outcomes.flush(stop_after_delay(cfg.shutdown_grace)), cfg.shutdown_grace * 2
            )
            returned = await self._guard.call(
                "leave", lambda: self.queue.leave(self.id), stop_after_delay(cfg.shutdown_grace)
            )
            await self.queue.hold_lease(HOUSEKEEPING_LEASE, self.id, 0)
        except (QueueError, TimeoutError) as exc:
            log.warning(
                "left without telling Redis (%s): the reaper will recover our jobs",
                exc or "timed out",
            )
            return
        log.info(
            "worker %s stopped: %d processed, %d failed attempts, %d handed back",
            self.id,
            self.processed,
            self.failed,
            returned,
        )
