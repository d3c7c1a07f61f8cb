"""The threads a plain processor runs in, and the ones stuck in an attempt that has ended.

A plain (non-async) processor runs in a pool of FBQ_CONCURRENCY threads (`ProcessorThreads`).

- **The timeout runs from when a thread starts the job**, not from when it was handed to the
  pool: a job that waited for a thread is never failed for a timeout it did not reach. The
  thread writes the job's deadline itself as it starts: no extra hop through the event loop,
  and no lock on the common path. Async processors are untouched: their deadline starts with
  the slot.
- **A stuck thread costs a slot.** A thread cannot be cancelled: when an attempt ends (timed out
  by the watchdog, or cancelled at shutdown) while its thread is still in the function, that
  thread is *stuck*. The worker subtracts its stuck threads from its free slots
  (`JobThreads.stuck`, read by `Worker._free`), so it takes only as many jobs as it has threads
  to run them. When the function finally returns, the thread and the slot are free again and
  the return value (or exception) is discarded: the attempt already ended. One WARNING when a
  thread gets stuck, one when it frees.
- **Liveness fails when every thread has been stuck for the whole liveness window**
  (`FBQ_LIVENESS_WINDOW`): such a worker can run nothing and only a restart gets its threads
  back. Its stuck attempts have already failed (and are retried as usual), so the restart loses
  nothing. Fewer stuck threads only lower the worker's capacity, and the logs say so.

Several fetch loops of one process (shards, two loops per shard) share one pool; each counts
the stuck threads of its own jobs, so together they take no more jobs than the pool has threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import Any

from feedback_queue.processing import JobContext

log = logging.getLogger(__name__)


# Who got to a step of an attempt first: a thread starting or finishing it, or the event loop
# ending the attempt. dict.setdefault is atomic under the GIL, so the common path takes no lock.
_THREAD, _LOOP = "thread", "loop"


class _Attempt:
    """One attempt handed to the pool."""

    __slots__ = ("claims", "context", "future", "loop", "owner")

    def __init__(self, context: JobContext, owner: JobThreads) -> None:
        self.context = context  # held, so that id(context) stays unique while we track it
        self.owner = owner
        self.claims: dict[str, str] = {}  # "start", "end" -> _THREAD or _LOOP
        self.future: Future[Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None


class ProcessorThreads:
    """The pool that runs a plain processor, with the count of its stuck threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.stuck = 0  # threads still in a job whose attempt ended
        self.all_stuck_since: float | None = None  # by the clock of the worker that saw it
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="fbq-processor")
        self._lock = threading.Lock()  # for the two counts above; the common path never takes it
        self._attempts: dict[int, _Attempt] = {}  # id(context) -> its attempt, until started

    def wrap(self, function: Callable[[JobContext], Any]) -> Callable[[JobContext], Awaitable[Any]]:
        """`function` as a coroutine function that runs it in one of the pool's threads."""

        async def in_thread(job: JobContext) -> Any:
            attempt = self._attempts.get(id(job))
            # In a copy of the caller's context: the processor sees its trace span (tracing.py).
            future = self._executor.submit(copy_context().run, self._run, function, job)
            if attempt is not None:
                attempt.future = future
            return await asyncio.wrap_future(future)

        return in_thread

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def expect(self, attempt: _Attempt) -> None:
        """A worker is about to call the processor with `attempt.context` (on the event loop)."""
        self._attempts[id(attempt.context)] = attempt

    def _run(self, function: Callable[[JobContext], Any], job: JobContext) -> Any:
        """In a thread: the deadline starts now; a stuck thread frees its slot when done."""
        attempt = self._attempts.pop(id(job), None)
        if attempt is not None:
            if attempt.claims.setdefault("start", _THREAD) != _THREAD:
                return None  # the attempt ended before this thread got to it
            attempt.owner.started(job.id)
        try:
            return function(job)
        finally:
            if attempt is not None and attempt.claims.setdefault("end", _THREAD) != _THREAD:
                self._freed(attempt)

    def end(self, attempt: _Attempt, now: float) -> bool:
        """The attempt is over (on the event loop); True when its thread is now stuck."""
        if attempt.claims.setdefault("start", _LOOP) == _LOOP:
            # No thread started it: cancelled, it never runs; if one has just picked it up,
            # that thread sees our claim and skips it (and drops it from _attempts).
            if attempt.future is None or attempt.future.cancel():
                self._attempts.pop(id(attempt.context), None)
            return False
        if attempt.claims.setdefault("end", _LOOP) != _LOOP:
            return False  # the function returned
        with self._lock:
            self.stuck += 1
            if self.stuck >= self.size and self.all_stuck_since is None:
                self.all_stuck_since = now
        return True

    def _freed(self, attempt: _Attempt) -> None:
        """In the thread: the function of an attempt that ended has returned at last."""
        with self._lock:
            self.stuck -= 1
            self.all_stuck_since = None
            left = self.stuck
        job = attempt.context
        log.warning(
            "processor thread free again: job %s attempt %d returned after its attempt "
            "ended (result discarded); %d of %d threads stuck",
            job.id,
            job.attempt,
            left,
            self.size,
        )
        if attempt.loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody left to tell
                attempt.loop.call_soon_threadsafe(attempt.owner.freed)


class JobThreads:
    """One worker's use of the processor's threads: deadlines and its stuck threads.

    With an async processor (`pool` None) the deadline starts with the slot and nothing is
    ever stuck.
    """

    def __init__(
        self,
        pool: ProcessorThreads | None,
        deadlines: dict[str, float],
        timeout: float,
        monotonic: Callable[[], float],
        wake: Callable[[], None],
    ) -> None:
        self.pool = pool
        self.stuck = 0  # threads still in a job of this worker whose attempt ended
        self._deadlines = deadlines
        self._timeout = timeout
        self._monotonic = monotonic
        self._wake = wake
        self._running: dict[str, _Attempt] = {}  # job id -> its attempt in the pool

    def start(self, context: JobContext) -> None:
        """A slot starts the job: its deadline starts now, or when a thread starts it."""
        if self.pool is None:
            self._deadlines[context.id] = self._monotonic() + self._timeout
            return
        # A thread writes it; one that started an attempt as shutdown ended it may have left
        # a stale one behind.
        self._deadlines.pop(context.id, None)
        attempt = _Attempt(context, self)
        self._running[context.id] = attempt
        self.pool.expect(attempt)

    def started(self, job_id: str) -> None:
        """A thread starts the job (called in that thread)."""
        self._deadlines[job_id] = self._monotonic() + self._timeout

    def end(self, job_id: str) -> None:
        """The job's attempt is over, however it ended; call before its deadline is dropped."""
        attempt = self._running.pop(job_id, None)
        if attempt is None or self.pool is None:
            return
        attempt.loop = asyncio.get_running_loop()
        if self.pool.end(attempt, self._monotonic()):
            self.stuck += 1
            log.warning(
                "processor thread stuck: job %s attempt %d ended but its thread is still in "
                "the function; %d of %d threads stuck",
                job_id,
                attempt.context.attempt,
                self.pool.stuck,
                self.pool.size,
            )

    def freed(self) -> None:
        """A stuck thread of ours returned (on the event loop): its slot is free again."""
        self.stuck -= 1
        self._wake()

    def all_stuck_longer_than(self, window: float) -> bool:
        """Whether every thread of the pool has been stuck for `window` seconds or more."""
        since = self.pool.all_stuck_since if self.pool is not None else None
        return since is not None and self._monotonic() - since >= window
