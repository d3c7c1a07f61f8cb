"""Processors for the benchmarks (FBQ_PROCESSOR=benchmarks.processors:NAME)."""

from __future__ import annotations

import asyncio

from feedback_queue.processing import JobContext


async def noop(job: JobContext) -> None:
    """Does nothing: measures the queue, not the work."""


async def wait_10ms(job: JobContext) -> None:
    """Stands for a call to a model service that takes 10 ms."""
    await asyncio.sleep(0.01)
