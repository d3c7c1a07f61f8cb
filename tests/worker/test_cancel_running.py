"""A running attempt stopped from outside: its submission cancelled, or the attempt taken from its
worker (reaped while the worker was frozen). Real worker, real Redis.

The processor is told through its context at the next check; an async processor's task is
cancelled after the grace; a plain one's thread cannot be, so it counts as stuck until it
returns. In every case nothing the attempt returns or raises is written, and nothing of it runs
after the stop: each processor keeps a journal of the steps it ran.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from feedback_queue.job import Status
from feedback_queue.processing import JobContext
from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from tests.helpers import silence, submission
from worker_service.processors import from_function
from worker_service.worker import Worker

CONFIG = WorkerConfig(
    concurrency=2, shutdown_grace=2.0, block_timeout=0.1, cancel_check=0.05, cancel_grace=0.3
)


class Journal:
    """What the processors did, step by step, and events the test awaits."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.started = threading.Event()

    def note(self, job_id: str, what: str) -> None:
        with self.lock:
            self.steps.append((job_id, what))
        if what == "start":
            self.started.set()

    def of(self, job_id: str) -> list[str]:
        with self.lock:
            return [what for i, what in self.steps if i == job_id]


async def until(condition: Callable[[], bool], worker: Worker) -> None:
    """Until `condition()`, looking after every cancel check of the worker."""
    async with asyncio.timeout(20):
        while not condition():
            worker.cancels.checked.clear()
            await worker.cancels.checked.wait()


@pytest.fixture
def journal() -> Journal:
    return Journal()


async def run_worker(
    queue: Queue, process: Callable[..., object], worker_id: str = "w1", concurrency: int = 2
) -> Worker:
    config = dataclasses.replace(CONFIG, concurrency=concurrency)
    worker = Worker(queue, from_function("test", process, 2), config, worker_id=worker_id)
    worker.task = asyncio.create_task(worker.run())  # type: ignore[attr-defined]
    return worker


async def stop(worker: Worker) -> None:
    worker.stop()
    await worker.task  # type: ignore[attr-defined]
    await worker.processor.aclose()


async def started(journal: Journal) -> None:
    assert await asyncio.to_thread(journal.started.wait, 10)


async def test_an_async_processor_that_ignores_the_cancel_is_stopped_after_the_grace(
    queue: Queue, journal: Journal
) -> None:
    async def stubborn(job: JobContext) -> str:
        journal.note(job.id, "start")
        try:
            for step in range(200):
                await asyncio.sleep(0.05)
                journal.note(job.id, f"step {step}")
        except asyncio.CancelledError:
            journal.note(job.id, f"task cancelled, told: {job.cancelled}")
            raise
        return "finished"

    job_id = (await queue.enqueue(submission("long"))).id
    worker = await run_worker(queue, stubborn)
    await started(journal)
    assert await queue.cancel(job_id, "alice")
    await until(lambda: "task cancelled, told: True" in journal.of(job_id), worker)
    steps_then = journal.of(job_id)
    await until(lambda: job_id not in worker.inflight, worker)
    await stop(worker)
    assert journal.of(job_id) == steps_then  # nothing of it ran after the stop
    job = await queue.get(job_id)
    assert (job.status, job.record.result) == (Status.CANCELLED, "")
    stats = await queue.stats()
    assert (stats.completed, stats.cancelled_total, stats.waiting, stats.active) == (0, 1, 0, 0)
    assert (worker.processed, worker.failed) == (0, 0)


async def test_an_async_processor_that_listens_stops_at_once_and_its_return_is_dropped(
    queue: Queue, journal: Journal
) -> None:
    async def listening(job: JobContext) -> str:
        journal.note(job.id, "start")
        await job.wait_cancelled()
        journal.note(job.id, f"told: {job.cancel_reason}")
        return "partial work"

    ids = [(await queue.enqueue(submission(f"essay {i}"))).id for i in range(2)]
    worker = await run_worker(queue, listening)
    await until(lambda: len(worker.inflight) == 2, worker)
    await queue.cancel(ids[0], "alice")
    await until(lambda: ids[0] not in worker.inflight, worker)
    assert journal.of(ids[0]) == ["start", "told: cancelled"]
    assert ids[1] in worker.inflight  # its neighbour runs on
    await queue.cancel(ids[1], "alice")
    await until(lambda: not worker.inflight, worker)
    await stop(worker)
    for job_id in ids:
        job = await queue.get(job_id)
        assert (job.status, job.record.result) == (Status.CANCELLED, "")
    assert await queue.client.hget(queue.keys.stats, "stale_outcomes") is None
    assert worker.processed == 0


async def test_a_plain_processor_sees_the_flag_and_a_deaf_one_is_left_stuck(
    queue: Queue, journal: Journal
) -> None:
    deaf_release = threading.Event()

    def plain(job: JobContext) -> str:
        journal.note(job.id, "start")
        if job.submission.content == "deaf":
            deaf_release.wait(20)
            journal.note(job.id, "returned late")
            return "late"
        while not job.cancelled:
            threading.Event().wait(0.02)
        journal.note(job.id, "saw the flag")
        job.raise_if_cancelled()
        return "never"

    listening = (await queue.enqueue(submission("listens"))).id
    deaf = (await queue.enqueue(submission("deaf"))).id
    worker = await run_worker(queue, plain)
    await until(lambda: len(worker.inflight) == 2, worker)
    await queue.cancel(listening, "alice")
    await queue.cancel(deaf, "alice")
    await until(lambda: not worker.inflight, worker)
    assert journal.of(listening) == ["start", "saw the flag"]
    assert worker.threads.stuck == 1  # the deaf thread holds its slot until it returns
    deaf_release.set()
    await until(lambda: worker.threads.stuck == 0, worker)
    await stop(worker)
    assert journal.of(deaf) == ["start", "returned late"]
    for job_id in (listening, deaf):
        job = await queue.get(job_id)
        assert (job.status, job.record.result) == (Status.CANCELLED, "")
    assert (worker.processed, worker.failed) == (0, 0)


async def test_a_frozen_workers_attempt_taken_by_the_reaper_is_stopped_and_writes_nothing(
    queue: Queue, client: Redis, journal: Journal
) -> None:
    """The worker was taken for dead (its beats silenced, as a freeze leaves them) and the job
    ran again elsewhere; when the old attempt hears of it, it stops and writes nothing, so the
    new attempt's result stands alone."""
    gate = asyncio.Event()

    async def slow(job: JobContext) -> str:
        journal.note(job.id, f"start on attempt {job.attempt}")
        try:
            await gate.wait()
        except asyncio.CancelledError:
            journal.note(job.id, f"stopped: {job.cancel_reason}")
            raise
        return f"result of attempt {job.attempt}"

    job_id = (await queue.enqueue(submission("essay"))).id
    worker = await run_worker(queue, slow, "frozen", concurrency=1)
    await until(lambda: job_id in worker.inflight, worker)

    async def frozen() -> None:  # no beat from it while the test stages its freeze
        pass

    worker._housekeeper.beat = frozen  # type: ignore[method-assign]
    await queue.heartbeat("reaper")
    await silence(client, queue, "frozen", queue.config.heartbeat_grace + 1)
    assert await queue.reap() == 1
    [again] = await queue.reserve("other")
    await until(lambda: job_id not in worker.inflight, worker)
    assert journal.of(job_id)[-1].startswith("stopped: taken from this worker")
    await queue.ack("other", [(again.id, again.token, "the second attempt's")])
    await stop(worker)
    job = await queue.get(job_id)
    assert (job.status, job.record.result) == (Status.COMPLETED, "the second attempt's")
    assert await queue.client.hget(queue.keys.stats, "stale_outcomes") is None
