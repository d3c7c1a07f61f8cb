"""The load of the scale-out tests: a producer that retries with its idempotency key, and an
in-process worker that records every processing (so duplicates and losses can be counted)."""

from __future__ import annotations

import asyncio

from feedback_queue.errors import QueueError
from feedback_queue.processing import JobContext
from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from tests.helpers import submission
from worker_service.processors import Processor
from worker_service.worker import Worker

WORKER = WorkerConfig(concurrency=8, job_timeout=10.0, shutdown_grace=5.0, block_timeout=0.2)


async def submit_until_acknowledged(queue: Queue, key: str) -> None:
    """Submit with `key` until Redis acknowledges it, as docs/guarantees.md tells producers to."""
    while True:
        try:
            await queue.enqueue(submission(idempotency_key=key))
        except QueueError:
            await asyncio.sleep(0.05)
            continue
        return


def recording_worker(queue: Queue) -> tuple[Worker, list[str]]:
    """A worker whose processor appends each job's idempotency key to the returned list."""
    processed: list[str] = []

    async def record(job: JobContext) -> None:
        processed.append(job.submission.idempotency_key)

    return Worker(queue, Processor("record", record), WORKER), processed
