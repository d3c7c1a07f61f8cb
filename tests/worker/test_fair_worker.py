"""A running worker honours fair-share quotas, and a quota changed at run time takes effect at
once (issue #19: within a second), woken by the change itself rather than by polling."""

from __future__ import annotations

import asyncio
from typing import Any

from feedback_queue.processing import JobContext
from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from tests.helpers import submission
from worker_service.processors import Processor
from worker_service.worker import Worker

# An idle worker would look again after block_timeout anyway: make that far longer than the
# second the change must take, so only the change's own wake-up can meet it.
CONFIG = WorkerConfig(concurrency=8, job_timeout=30.0, shutdown_grace=2.0, block_timeout=10.0)


class Gate:
    """A processor whose jobs run until released; counts how many run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.changed = asyncio.Condition()
        self.release = asyncio.Event()

    async def __call__(self, job: JobContext) -> Any:
        async with self.changed:
            self.running += 1
            self.changed.notify_all()
        try:
            await self.release.wait()
            return "ok"
        finally:
            async with self.changed:
                self.running -= 1
                self.changed.notify_all()

    async def reach(self, n: int, within: float) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: self.running == n)


async def test_raising_max_active_at_run_time_starts_more_at_once(queue: Queue) -> None:
    await queue.set_quota("k", max_active=1)
    for i in range(6):
        await queue.enqueue(submission(f"essay {i}", submitter_id="k"))
    gate = Gate()
    worker = Worker(queue, Processor("gate", gate), CONFIG, worker_id="w-fair")
    running = asyncio.create_task(worker.run())
    try:
        await gate.reach(1, within=5.0)
        share = await queue.fair_share()
        assert [(s.key, s.waiting, s.active) for s in share.keys] == [("k", 5, 1)]
        await queue.set_quota("k", max_active=4)
        await gate.reach(4, within=1.0)
        # A rate that allows no more for a long while holds the rest; lifting it starts them.
        await queue.set_quota("k", max_active=0, rate=0.001)
        await queue.set_quota("k", rate=0)
        await gate.reach(6, within=1.0)
    finally:
        gate.release.set()
        worker.stop()
        await running
    stats = await queue.stats()
    assert (stats.waiting, stats.active, stats.completed) == (0, 0, 6)
