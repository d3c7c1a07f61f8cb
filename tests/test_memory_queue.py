"""What only the in-memory fallback has: its health report, its wake-ups, its clock-driven
expiry, and the guarantee that it never reaches for a Redis client. The shared behaviour is
proved by the queue tests, which run on both backends (conftest.py)."""

from __future__ import annotations

import ast
import asyncio
import inspect
from collections.abc import Awaitable, Callable

import grpc
import pytest

from feedback_queue import health, memory
from feedback_queue.errors import NotFound
from feedback_queue.job import Status
from feedback_queue.memory import MemoryQueue
from feedback_queue.queue import Failure, Queue, Taken
from feedback_queue.settings import Rate, Settings
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from ingest_service.admin import AdminServicer
from ingest_service.submissions import SubmissionServicer
from tests.conftest import FakeClock
from tests.helpers import submission


def test_every_public_coroutine_of_queue_is_overridden() -> None:
    """A coroutine added to Queue without its memory twin would reach for a Redis client."""
    public = {
        name
        for name, fn in inspect.getmembers(Queue, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    assert {"enqueue", "reserve", "wait_one", "reap", "stats", "close"} <= public
    own = vars(MemoryQueue)
    assert sorted(name for name in public if name not in own) == []
    assert all(inspect.iscoroutinefunction(own[name]) for name in public)
    # Queue's private coroutines talk to Redis: no override may reach them through super().
    calls = ast.walk(ast.parse(inspect.getsource(memory)))
    assert not [c for c in calls if isinstance(c, ast.Call) and ast.unparse(c.func) == "super"]


def test_a_memory_queue_has_no_redis_client(memory_queue: MemoryQueue) -> None:
    with pytest.raises(AttributeError, match="client"):
        _ = memory_queue.client
    assert not memory_queue.durable
    assert Queue.durable


def test_in_memory_is_configured_by_settings(clock: FakeClock) -> None:
    settings = Settings(
        queue="essays", max_attempts=7, retention=60.0, max_waiting=9, submitter_rate=Rate(2, 1.0)
    )
    queue = MemoryQueue.in_memory(settings, clock=clock)
    assert (queue.name, queue.max_attempts, queue.retention, queue.max_waiting) == (
        "essays",
        7,
        60.0,
        9,
    )
    assert (queue.submitter_rate, queue.address, queue.clock) == (Rate(2, 1.0), "in-memory", clock)


async def test_health_says_submissions_are_not_durable(memory_queue: MemoryQueue) -> None:
    await memory_queue.enqueue(submission())
    await memory_queue.ping()
    report = await health.check(memory_queue)
    assert (report.status, report.connected, report.version) == ("degraded", False, "in-memory")
    [warning] = report.warnings
    assert "only in this process's memory" in warning
    assert "lost when it stops" in warning
    assert "without --memory" in warning
    assert report.queue.waiting == 1
    assert report.memory.used_bytes <= report.memory.total_bytes
    message = report.to_proto()
    assert (message.status, message.connected, message.version) == (
        "degraded",
        False,
        "in-memory",
    )


async def _parked(queue: MemoryQueue, worker: str) -> asyncio.Task[Taken]:
    """A wait_one that has run until it blocks: the test resumes only once it yielded."""
    started = asyncio.Event()

    async def wait() -> Taken:
        started.set()
        return await queue.wait_one(worker, 60.0)

    task = asyncio.create_task(wait())
    await started.wait()
    assert not task.done(), "wait_one returned instead of blocking"
    return task


# Each sets up a job that one call (the function it returns) brings into waiting.
Waker = Callable[[], Awaitable[object]]


async def _enqueue(queue: MemoryQueue, clock: FakeClock) -> Waker:
    return lambda: queue.enqueue(submission("woken"))


async def _promote(queue: MemoryQueue, clock: FakeClock) -> Waker:
    await queue.enqueue(submission("woken"), delay=30)
    clock.advance(30)
    return queue.promote_due


async def _retry(queue: MemoryQueue, clock: FakeClock) -> Waker:
    await queue.enqueue(submission("woken"))
    [job] = await queue.reserve("w0")
    await queue.fail("w0", [Failure(job, "boom", permanent=True)])
    return lambda: queue.retry(job.id)


async def _reap(queue: MemoryQueue, clock: FakeClock) -> Waker:
    await queue.enqueue(submission("woken"))
    await queue.heartbeat("w0")
    await queue.reserve("w0")
    clock.advance(queue.heartbeat_grace + 1)
    return queue.reap


@pytest.mark.parametrize("setup", [_enqueue, _promote, _retry, _reap], ids=lambda f: f.__name__)
async def test_wait_one_blocks_until_a_job_arrives(
    memory_queue: MemoryQueue,
    clock: FakeClock,
    setup: Callable[[MemoryQueue, FakeClock], Awaitable[Waker]],
) -> None:
    wake = await setup(memory_queue, clock)
    taker = await _parked(memory_queue, "w1")
    await wake()
    async with asyncio.timeout(5):  # a guard only: the wake-up is immediate
        taken = await taker
    [job] = taken.jobs
    assert (job.submission.content, job.status, job.record.worker) == ("woken", Status.ACTIVE, "w1")


async def test_a_waiter_woken_while_paused_hands_the_job_back(memory_queue: MemoryQueue) -> None:
    taker = await _parked(memory_queue, "w1")
    await memory_queue.pause()
    await memory_queue.enqueue(submission())
    async with asyncio.timeout(5):
        taken = await taker
    assert (taken.jobs, taken.paused) == ([], True)
    await memory_queue.resume()
    [job] = await memory_queue.reserve("w1")
    assert job.attempts == 1  # the handed-back start did not count


async def test_each_waiter_gets_its_own_job_in_arrival_order(memory_queue: MemoryQueue) -> None:
    first = await _parked(memory_queue, "w1")
    second = await _parked(memory_queue, "w2")
    one = (await memory_queue.enqueue(submission("one"))).id
    async with asyncio.timeout(5):
        assert [j.id for j in (await first).jobs] == [one]
    assert not second.done()
    two = (await memory_queue.enqueue(submission("two"))).id
    async with asyncio.timeout(5):
        assert [j.id for j in (await second).jobs] == [two]


async def test_finished_jobs_and_leases_expire_by_the_queue_clock(
    memory_queue: MemoryQueue, clock: FakeClock
) -> None:
    # Redis expires them by its own clock; the memory queue has only the queue's.
    queue = memory_queue
    result = await queue.enqueue(submission())
    [job] = await queue.reserve("w1")
    await queue.ack("w1", [(job.id, "ok")])
    assert await queue.hold_lease("housekeeping", "w1", queue.retention)
    clock.advance(queue.retention)
    assert (await queue.get(result.id)).status == Status.COMPLETED
    assert not await queue.hold_lease("housekeeping", "w2", 5.0)
    clock.advance(0.001)
    with pytest.raises(NotFound):
        await queue.get(result.id)
    assert await queue.hold_lease("housekeeping", "w2", 5.0)
    assert await queue.sweep() == (0, 1)


async def test_ingest_servicers_run_on_a_memory_queue(memory_queue: MemoryQueue) -> None:
    server = grpc.aio.server()
    pb_grpc.add_SubmissionServiceServicer_to_server(SubmissionServicer(memory_queue), server)
    pb_grpc.add_AdminServiceServicer_to_server(AdminServicer(memory_queue), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            submissions = pb_grpc.SubmissionServiceStub(channel)
            admin = pb_grpc.AdminServiceStub(channel)
            request = pb.SubmitRequest(submission=submission("hi", idempotency_key="k1"))
            first = await submissions.Submit(request)
            again = await submissions.Submit(request)
            assert (again.id, again.duplicate) == (first.id, True)
            info = await submissions.GetSubmission(pb.GetSubmissionRequest(id=first.id))
            assert (info.submission.content, info.status) == ("hi", pb.WAITING)
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await submissions.GetSubmission(pb.GetSubmissionRequest(id="missing"))
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
            report = await admin.GetRedisHealth(pb.GetRedisHealthRequest())
            assert (report.status, report.connected, report.queue_stats.waiting) == (
                "degraded",
                False,
                1,
            )
    finally:
        await server.stop(None)
        await memory_queue.close()
