"""The client against a real ingest on a free port and the tests' Redis.

`calls` counts, on the server side, what reaches ingest's SubmissionService: each Submit and
the size of each SubmitBatch (the real servicer runs; the count is taken in front of it), so a
test asserts what the client sent, not how long anything took.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from feedback_queue.client import AsyncClient
from feedback_queue.processing import JobContext, PermanentError
from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from feedback_queue.v1 import queue_pb2 as pb
from ingest_service.submissions import SubmissionServicer
from tests.ingest.conftest import Ingest, StartIngest, start_ingest  # noqa: F401  (shared fixture)
from worker_service.processors import Processor
from worker_service.worker import Worker

FAST = WorkerConfig(concurrency=4, job_timeout=5.0, shutdown_grace=2.0, block_timeout=0.1)


@dataclass
class Door:
    """Where calls of one method wait: `arrived` is set as one comes, and it goes on through
    once `gate` is open (it is unless a test closes it)."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.gate.set()

    async def enter(self) -> None:
        self.arrived.set()
        await self.gate.wait()


@dataclass
class Calls:
    """What reached ingest's SubmissionService, counted as it arrives; a test may hold the
    calls of a method at its door before the real servicer runs them."""

    submits: int = 0
    batches: list[int] = field(default_factory=list)  # the items of each SubmitBatch
    batch_bytes: list[int] = field(default_factory=list)  # and its serialized size
    submit_door: Door = field(default_factory=Door)
    batch_door: Door = field(default_factory=Door)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Counts every Submit and SubmitBatch of the ingest servers the test starts."""
    seen = Calls()
    submit, submit_batch = SubmissionServicer.Submit, SubmissionServicer.SubmitBatch

    async def counted_submit(
        self: SubmissionServicer, request: pb.SubmitRequest, context: Any
    ) -> pb.SubmitResponse:
        seen.submits += 1
        await seen.submit_door.enter()
        return await submit(self, request, context)

    async def counted_batch(
        self: SubmissionServicer, request: pb.SubmitBatchRequest, context: Any
    ) -> pb.SubmitBatchResponse:
        seen.batches.append(len(request.requests))
        seen.batch_bytes.append(request.ByteSize())
        await seen.batch_door.enter()
        return await submit_batch(self, request, context)

    monkeypatch.setattr(SubmissionServicer, "Submit", counted_submit)
    monkeypatch.setattr(SubmissionServicer, "SubmitBatch", counted_batch)
    return seen


@pytest.fixture
async def ingest(start_ingest: StartIngest, calls: Calls) -> Ingest:  # noqa: F811
    return await start_ingest()


def address(ingest: Ingest) -> str:
    return f"127.0.0.1:{ingest.server.port}"


@pytest.fixture
async def aclient(ingest: Ingest) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(address(ingest)) as client:
        yield client


async def feedback(job: JobContext) -> dict[str, int]:
    """A processor: counts words; metadata["fail"] fails the submission for good."""
    if "fail" in job.submission.metadata:
        raise PermanentError("asked to fail")
    return {"words": len(job.submission.content.split())}


@asynccontextmanager
async def running_worker(
    queue: Queue, fn: Callable[[JobContext], Awaitable[Any]] = feedback
) -> AsyncIterator[Worker]:
    """A real worker on the ingest's queue, in this event loop, until the block ends."""
    worker = Worker(queue, Processor("test", fn), FAST, worker_id="w-client")
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await task
