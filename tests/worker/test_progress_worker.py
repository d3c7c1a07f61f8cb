"""Progress from a real worker: a long job that reports outlives its worker's silence (beats
stopped, as when its housekeeping is frozen) by many graces, while its sibling that does not
report is recovered one grace after; reports are paced, and a plain processor reports from its
thread."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable

from feedback_queue.job import Status
from feedback_queue.processing import JobContext
from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from tests.helpers import redis_ms, submission
from worker_service.processors import from_function
from worker_service.worker import Worker

GRACE = 1.0
CONFIG = WorkerConfig(
    concurrency=2, shutdown_grace=2.0, block_timeout=0.1, progress_interval=0.1, cancel_check=0.1
)


async def until(worker: Worker, condition: Callable[[], Awaitable[bool]]) -> None:
    """Until `condition()`, looking again after each of the worker's cancel checks (every
    0.1 s while it runs jobs)."""
    async with asyncio.timeout(30):
        while not await condition():
            worker.cancels.checked.clear()
            await worker.cancels.checked.wait()


async def test_a_reporting_job_outlives_a_silent_worker_and_a_mute_one_is_recovered(
    queue: Queue,
) -> None:
    queue.config = dataclasses.replace(queue.config, heartbeat_grace=GRACE)
    gate = asyncio.Event()
    reports = 0

    async def process(job: JobContext) -> str:
        nonlocal reports
        if job.submission.content == "talker" and job.attempt == 1:
            while not gate.is_set():
                for _ in range(5):  # chatty: only the latest of each interval is written
                    reports += 1
                    job.report(percent=min(reports, 99), message=f"step {reports}")
                await asyncio.sleep(0.05)
            return "talked"
        if job.submission.content == "mute" and job.attempt == 1:
            await gate.wait()  # stopped once its attempt is taken from it
        return "done"

    talker = (await queue.enqueue(submission("talker"))).id
    mute = (await queue.enqueue(submission("mute"))).id
    worker = Worker(queue, from_function("p", process, 2), CONFIG, worker_id="silent")
    task = asyncio.create_task(worker.run())

    async def both_running() -> bool:
        return len(worker.inflight) == 2

    await until(worker, both_running)

    async def frozen() -> None:  # its housekeeping beats no more
        pass

    worker._housekeeper.beat = frozen  # type: ignore[method-assign]
    silent_since = await redis_ms(queue.client)

    async def mute_recovered() -> bool:
        await queue.heartbeat("reaper")
        await queue.reap()
        return (await queue.get(mute)).record.error.startswith("worker silent stopped")

    await until(worker, mute_recovered)

    async def three_graces_later() -> bool:
        await queue.heartbeat("reaper")
        await queue.reap()
        job = await queue.get(talker)
        assert (job.status, job.attempts, job.record.worker) == (Status.ACTIVE, 1, "silent")
        return await redis_ms(queue.client) - silent_since > 3 * GRACE * 1000

    await until(worker, three_graces_later)
    seen = await queue.get(talker)
    assert seen.progress is not None
    assert seen.progress.message.startswith("step ")
    # Paced: a write carries the latest report of its interval (and each of the processor's
    # rounds makes five): one job's reports cost a fraction of the writes they would.
    assert 0 < worker.progress.writes * 5 <= reports
    gate.set()

    async def both_done() -> bool:
        statuses = [(await queue.get(i)).status for i in (talker, mute)]
        return statuses == [Status.COMPLETED] * 2

    await until(worker, both_done)
    worker.stop()
    await task
    await worker.processor.aclose()
    done = await queue.get(talker)
    assert (done.attempts, done.record.result) == (1, "talked")  # never run twice
    assert (await queue.get(mute)).attempts == 2


async def test_a_plain_processor_reports_from_its_thread(queue: Queue) -> None:
    release = threading.Event()
    told = threading.Event()

    def plain(job: JobContext) -> str:
        job.report(percent=25, message="a quarter", partial={"words": 120})
        told.set()
        release.wait(20)
        return "ok"

    job_id = (await queue.enqueue(submission("essay"))).id
    worker = Worker(queue, from_function("p", plain, 1), CONFIG, worker_id="w")
    task = asyncio.create_task(worker.run())
    assert await asyncio.to_thread(told.wait, 10)

    async def shown() -> bool:
        return (await queue.get(job_id)).progress is not None

    await until(worker, shown)
    progress = (await queue.get(job_id)).progress
    assert progress is not None
    assert (progress.percent, progress.message, progress.partial) == (
        25.0,
        "a quarter",
        '{"words":120}',
    )
    release.set()
    worker.stop()
    await task
    await worker.processor.aclose()
    assert (await queue.get(job_id)).status == Status.COMPLETED
