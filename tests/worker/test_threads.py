"""Plain processors in threads: a hung thread costs one slot, and no healthy job its timeout.

The worker's clock is moved by hand, so a job times out exactly when the test says; the
processors wait on threading.Events the test sets.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import pytest

from feedback_queue.job import Status
from feedback_queue.processing import JobContext
from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from tests.helpers import submission
from worker_service.processors import Processor, from_function
from worker_service.threads import JobThreads
from worker_service.worker import Worker

TIMEOUT = 1.0  # by the hand-moved clock; the watchdog looks every 0.25 s of real time
WINDOW = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Plain:
    """A plain processor: "hang" waits for `release`; the others wait for `gate`, then return."""

    def __init__(self) -> None:
        self.hung = threading.Event()
        self.release = threading.Event()
        self.gate = threading.Event()
        self.starts = threading.Semaphore(0)  # one release per healthy start
        self.returned: list[str] = []

    def __call__(self, job: JobContext) -> str:
        if job.submission.content == "hang":
            self.hung.set()
            self.release.wait(30)
            self.returned.append(job.id)
            return "late"
        self.starts.release()
        self.gate.wait(30)
        return "ok"

    async def started(self, count: int = 1) -> None:
        for _ in range(count):
            assert await asyncio.to_thread(self.starts.acquire, True, 10)


async def waited(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 10)


async def until(worker: Worker, done: Callable[[], bool]) -> None:
    """Until `done()`, looking at every turn of the fetch loop (at least every 0.1 s)."""
    async with asyncio.timeout(20):
        while not done():
            await worker.turned.wait()
            worker.turned.clear()


async def statuses(queue: Queue, ids: list[str]) -> list[Status]:
    return [(await queue.get(job_id)).status for job_id in ids]


@pytest.fixture
async def plain() -> AsyncIterator[Plain]:
    processor = Plain()
    yield processor
    processor.release.set()  # no thread may outlive the test
    processor.gate.set()


def start_worker(
    queue: Queue, plain: Plain, clock: Clock, *, concurrency: int = 2, threads: int = 2
) -> tuple[Worker, Processor, asyncio.Task[None]]:
    processor = from_function("plain", plain, threads)
    config = WorkerConfig(
        concurrency=concurrency, job_timeout=TIMEOUT, shutdown_grace=2.0, block_timeout=0.1
    )
    worker = Worker(queue, processor, config, worker_id="w-threads", monotonic=clock)
    return worker, processor, asyncio.create_task(worker.run())


async def test_a_hung_thread_costs_one_slot_until_it_returns(queue: Queue, plain: Plain) -> None:
    clock = Clock()
    hang = (await queue.enqueue(submission("hang"))).id
    worker, processor, task = start_worker(queue, plain, clock)
    await waited(plain.hung)
    clock.now += TIMEOUT + 1  # the hung job is past its timeout
    await until(worker, lambda: worker.failed == 1)

    # One thread is stuck: the worker takes one job at a time, and each one runs.
    first, second = [(await queue.enqueue(submission(f"ok {i}"))).id for i in range(2)]
    await plain.started()
    turns = worker.turns
    await until(worker, lambda: worker.turns >= turns + 3)  # it looked again, several times
    assert sorted(await statuses(queue, [first, second])) == [Status.WAITING, Status.ACTIVE]
    assert processor.threads is not None
    assert (worker.threads.stuck, processor.threads.stuck) == (1, 1)
    assert len(worker.inflight) == 1
    plain.gate.set()
    await plain.started()  # the second one
    await until(worker, lambda: worker.processed == 2)

    # The hung thread returns: its late result is dropped, and both slots work again.
    plain.gate.clear()
    plain.release.set()
    await until(worker, lambda: worker.threads.stuck == 0)
    more = [(await queue.enqueue(submission(f"more {i}"))).id for i in range(2)]
    await plain.started(2)  # both at once
    assert len(worker.inflight) == 2
    plain.gate.set()
    await until(worker, lambda: worker.processed == 4)
    worker.stop()
    await task
    await processor.aclose()

    assert plain.returned == [hang]
    job = await queue.get(hang)
    assert (job.status, job.attempts) == (Status.DELAYED, 1)  # retried after backoff, as usual
    assert job.record.error == "timed out after 1s (FBQ_JOB_TIMEOUT)"
    for job_id in [first, second, *more]:
        job = await queue.get(job_id)
        assert (job.status, job.record.error) == (Status.COMPLETED, "")
    assert worker.failed == 1


async def test_a_job_that_waited_for_a_thread_is_not_timed_out(queue: Queue, plain: Plain) -> None:
    # One thread for two slots: the second job waits for the thread the first one holds.
    clock = Clock()
    hang = (await queue.enqueue(submission("hang"))).id
    waiting = (await queue.enqueue(submission("ok"))).id
    worker, processor, task = start_worker(queue, plain, clock, threads=1)
    await waited(plain.hung)
    await until(worker, lambda: len(worker.inflight) == 2)
    plain.gate.set()
    clock.now += 3 * TIMEOUT  # both were taken long ago; only the hung one ran that long
    await until(worker, lambda: worker.failed >= 1)
    turns = worker.turns
    await until(worker, lambda: worker.turns >= turns + 3)
    assert worker.failed == 1  # the waiting job was not timed out with it
    assert worker.threads.stuck == 1
    plain.release.set()  # the thread is free: the waiting job runs, within its own timeout
    await until(worker, lambda: worker.processed == 1)
    worker.stop()
    await task
    await processor.aclose()

    assert (await queue.get(hang)).status == Status.DELAYED
    job = await queue.get(waiting)
    assert (job.status, job.record.error) == (Status.COMPLETED, "")
    assert worker.failed == 1


async def test_liveness_fails_when_every_thread_is_stuck_for_the_window(
    queue: Queue, plain: Plain
) -> None:
    clock = Clock()
    await queue.enqueue(submission("hang"))
    worker, processor, task = start_worker(queue, plain, clock, concurrency=1, threads=1)
    await waited(plain.hung)
    clock.now += TIMEOUT + 1
    await until(worker, lambda: worker.threads.stuck == 1)
    reason = f"every processor thread stuck for {WINDOW:g}s or more"
    assert reason not in worker.liveness.reasons(WINDOW)  # stuck, but not for long yet
    clock.now += WINDOW
    assert reason in worker.liveness.reasons(WINDOW)
    plain.release.set()
    await until(worker, lambda: worker.threads.stuck == 0)
    assert reason not in worker.liveness.reasons(WINDOW)
    worker.stop()
    await task
    await processor.aclose()


async def test_an_attempt_cancelled_while_waiting_for_a_thread_never_runs(plain: Plain) -> None:
    processor = from_function("plain", plain, 1)
    assert processor.threads is not None
    deadlines: dict[str, float] = {}
    freed = asyncio.Event()
    threads = JobThreads(processor.threads, deadlines, TIMEOUT, Clock(), freed.set)

    async def attempt(content: str) -> None:
        context = JobContext(content, submission(content), 1, 3)
        threads.start(context)
        try:
            await processor(context)
        finally:
            threads.end(context.id)
            deadlines.pop(context.id, None)

    hung = asyncio.create_task(attempt("hang"))
    await waited(plain.hung)
    assert list(deadlines) == ["hang"]  # its thread started it
    queued = asyncio.create_task(attempt("queued"))
    await asyncio.sleep(0)  # one turn: it is handed to the pool, which has no thread for it
    assert "queued" not in deadlines
    queued.cancel()  # as at shutdown
    hung.cancel()
    await asyncio.wait([queued, hung])
    assert (threads.stuck, processor.threads.stuck) == (1, 1)  # only the one in a thread
    plain.release.set()
    await freed.wait()
    assert (threads.stuck, processor.threads.stuck) == (0, 0)
    plain.gate.set()
    await attempt("after")  # one thread, in order: "queued" would have run before this
    await plain.started()
    assert not plain.starts.acquire(timeout=0)  # "after" started, "queued" never did
    assert not deadlines
    await processor.aclose()
