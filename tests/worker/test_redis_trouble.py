"""The worker's background loops against Redis trouble, on real redis-servers: BUSY, out of
memory, a bug in a queue call, a stuck call. No loop may end before shutdown, nothing finished
may be dropped, and liveness fails only when waiting will not help (worker_service/liveness.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.exceptions as rex
from redis.asyncio import Redis

from feedback_queue.connection import create_client
from feedback_queue.job import Status
from feedback_queue.processing import JobContext, RetryableError
from feedback_queue.queue import Failure, Queue
from feedback_queue.settings import QueueConfig, WorkerConfig
from feedback_queue.up.embedded import EmbeddedRedis
from tests.conftest import redis_settings, seeded_backoff
from tests.helpers import submission
from worker_service.processors import Processor
from worker_service.worker import Worker

CONFIG = WorkerConfig(
    concurrency=2, job_timeout=60.0, shutdown_grace=0.2, block_timeout=0.1, housekeeping_every=0.1
)
WINDOW = CONFIG.liveness_window
# Runs for one to two seconds; past busy-reply-threshold, Redis answers BUSY to everyone else.
LONG_SCRIPT = (
    "local t0 = redis.call('TIME')[1] "
    "while tonumber(redis.call('TIME')[1]) < t0 + 2 do end return 1"
)


async def long_script(client: Redis) -> Any:
    """Run LONG_SCRIPT; its reply (1) once it ends."""
    return await client.eval(LONG_SCRIPT, 0)


class Clock:
    """The worker's monotonic clock, moved by hand: a liveness window passes at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Gate:
    """A processor that fails each job (retryably) once the test opens the gate."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.open = asyncio.Event()

    async def __call__(self, job: JobContext) -> str:
        self.started.set()
        await self.open.wait()
        raise RetryableError("model busy")


async def within(event: asyncio.Event, seconds: float = 15.0) -> None:
    async with asyncio.timeout(seconds):
        await event.wait()


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    """Poll a state that no event announces (Redis's own, or a log line)."""
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110  (no event announces it)
            await asyncio.sleep(0.01)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)


# The worker's background loops, each alive (liveness.py).
ALL_LIVE = {loop: True for loop in ("flusher", "housekeeping", "watchdog", "cancels", "progress")}


def own_queue(server: EmbeddedRedis, cls: type[Queue] = Queue, name: str = "trouble") -> Queue:
    client = create_client(redis_settings(server))
    config = QueueConfig(name=name, max_attempts=3, backoff=seeded_backoff())
    return cls(client, config, address=f"redis://127.0.0.1:{server.port}/0")


def loops_alive(worker: Worker) -> dict[str, bool]:
    return {name: not task.done() for name, task in worker.liveness.loops.items()}


def logged(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


async def test_a_failure_pending_while_redis_is_busy_is_written_after(
    make_server: type[EmbeddedRedis], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = make_server(appendonly=False, extra_args=("--busy-reply-threshold", "50"))  # type: ignore[call-arg]
    queue = own_queue(server)
    blocker: Redis = create_client(redis_settings(server))
    job_id = (await queue.enqueue(submission())).id
    gate = Gate()
    worker = Worker(queue, Processor("gate", gate), CONFIG, worker_id="w-busy")
    async with running(worker):
        await within(gate.started)
        script = asyncio.create_task(long_script(blocker))

        async def busy() -> bool:
            try:
                await queue.ping()
            except Exception as exc:  # what the worker sees, translated
                return "busy running a script" in str(exc)
            return False

        await until(busy)
        samples: list[bool] = []

        async def sample() -> None:  # liveness all through the spell
            while True:
                samples.append(worker.alive(WINDOW))
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        gate.open.set()  # the job fails now: its failure waits in the batch, Redis says BUSY
        await within(worker.flushed)
        sampler.cancel()
        assert await script == 1  # the script ran to its end, nobody killed it
        job = await queue.get(job_id)
        assert (job.status, job.attempts, job.record.error) == (Status.DELAYED, 1, "model busy")
        # It did meet BUSY and retried: the failure's write, or the take it waits behind (an
        # idle worker's take meets BUSY first, and the flusher waits for a take under way).
        assert logged(caplog, logging.WARNING, "fail failed") or logged(
            caplog, logging.WARNING, "take failed"
        )
        assert all(logged(caplog, logging.WARNING, "busy running a script"))
        assert loops_alive(worker) == ALL_LIVE
        assert samples
        assert all(samples)  # BUSY passes by itself: no restart wanted
        assert not logged(caplog, logging.ERROR, "failed, will keep trying")
    await blocker.aclose()
    await queue.close()


async def test_out_of_memory_ends_no_loop_and_is_logged_once(
    make_server: type[EmbeddedRedis], caplog: pytest.LogCaptureFixture
) -> None:
    """Redis lets ack and fail through when full (their first write, LREM, frees memory), so
    the failure is written even then; heartbeats are refused until memory is freed. An idle
    worker's fetch loop needs no memory (its wait pops, its take of nothing writes nothing), so
    it neither fails nor logs."""
    caplog.set_level(logging.INFO)
    server = make_server(  # type: ignore[call-arg]
        appendonly=False, extra_args=("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    )
    queue = own_queue(server)
    admin: Redis = create_client(redis_settings(server))
    job_id = (await queue.enqueue(submission())).id
    gate = Gate()
    worker = Worker(queue, Processor("gate", gate), CONFIG, worker_id="w-oom")
    async with running(worker):
        await within(gate.started)
        await admin.set("filler", b"x" * 4_000_000)
        await admin.config_set("maxmemory", "2mb")  # full now, and it stays full
        with pytest.raises(rex.OutOfMemoryError):
            await admin.set("one-more", "x")
        gate.open.set()
        await within(worker.flushed)  # the failure pending in the batch is written
        job = await queue.get(job_id)
        assert (job.status, job.attempts, job.record.error) == (Status.DELAYED, 1, "model busy")
        for _ in range(5):  # five more turns of the fetch loop while Redis stays full
            worker.turned.clear()
            await within(worker.turned)
        assert loops_alive(worker) == ALL_LIVE
        assert worker.alive(WINDOW)
        await admin.delete("filler")  # an operator frees memory, and gives some room
        await admin.config_set("maxmemory", "64mb")

        async def recovered() -> bool:
            return bool(logged(caplog, logging.INFO, "housekeeping works again"))

        await until(recovered)
    # Once per spell, not per attempt: one line when it began (and one when it ended).
    assert len(logged(caplog, logging.ERROR, "housekeeping failed")) == 1
    assert "out of memory" in logged(caplog, logging.ERROR, "housekeeping failed")[0]
    assert logged(caplog, logging.ERROR, "fetching failed") == []
    await admin.aclose()
    await queue.close()


class FailRaises(Queue):
    """A queue whose `fail` has a bug until `fixed` is set."""

    fixed: asyncio.Event
    calls = 0

    async def fail(self, worker: str, failures: Sequence[Failure]) -> list[Status | None]:
        self.calls += 1
        if not self.fixed.is_set():
            raise RuntimeError("a bug in fail")
        return await super().fail(worker, failures)


async def test_a_bug_in_a_queue_call_ends_no_loop_and_drops_nothing(
    redis_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    queue = own_queue(redis_server, FailRaises, name=f"bug-{uuid.uuid4().hex[:8]}")
    assert isinstance(queue, FailRaises)
    queue.fixed = asyncio.Event()
    job_id = (await queue.enqueue(submission())).id
    gate, clock = Gate(), Clock()
    gate.open.set()
    worker = Worker(queue, Processor("gate", gate), CONFIG, worker_id="w-bug", monotonic=clock)
    async with running(worker):

        async def tried_thrice() -> bool:
            return queue.calls >= 3

        await until(tried_thrice)
        assert loops_alive(worker) == ALL_LIVE
        assert worker.alive(WINDOW)  # not for long enough yet
        clock.now += WINDOW
        # A whole window with the failure unwritable, and waiting will not fix a bug: restart.
        assert f"outcomes unwritable for {WINDOW:g}s or more" in worker.liveness.reasons(WINDOW)
        assert not worker.alive(WINDOW)
        assert (await queue.get(job_id)).status == Status.ACTIVE
        queue.fixed.set()  # say, the deploy of a fix
        await within(worker.flushed)
        job = await queue.get(job_id)
        assert (job.status, job.attempts, job.record.error) == (Status.DELAYED, 1, "model busy")
        assert not worker.liveness.stalled(0.0)
        assert loops_alive(worker) == ALL_LIVE
    [line] = [r for r in caplog.records if "writing outcomes failed" in r.getMessage()]
    assert line.levelno == logging.ERROR
    assert line.exc_info  # a bug: logged with its traceback
    assert "a bug in fail" in str(line.exc_info[1])
    assert len(logged(caplog, logging.INFO, "writing outcomes works again")) == 1
    await queue.close()


class PromoteHangs(Queue):
    """A queue whose `promote_due` never returns (a call that hangs for good)."""

    entered: asyncio.Event

    async def promote_due(self, limit: int = 1000) -> int:
        self.entered.set()
        await asyncio.Event().wait()
        return 0


async def test_a_stuck_loop_fails_liveness_within_the_window(redis_server: EmbeddedRedis) -> None:
    queue = own_queue(redis_server, PromoteHangs, name=f"stuck-{uuid.uuid4().hex[:8]}")
    assert isinstance(queue, PromoteHangs)
    queue.entered = asyncio.Event()
    clock = Clock()
    processor = Processor("gate", Gate())
    worker = Worker(queue, processor, CONFIG, worker_id="w-stuck", monotonic=clock)
    async with running(worker):
        await within(queue.entered)
        assert worker.alive(WINDOW)
        clock.now += WINDOW - 1.5  # less than a window since housekeeping's last turn
        worker.turned.clear()
        await within(worker.turned)
        assert worker.alive(WINDOW)
        clock.now += 2.0
        worker.turned.clear()
        await within(worker.turned)  # the fetch loop turns on: it is not the one stuck
        reasons = worker.liveness.reasons(WINDOW)
        assert any(r.startswith("the housekeeping loop is stuck") for r in reasons), reasons
        assert not any(r.startswith("the fetch loop") for r in reasons), reasons
        assert not worker.alive(WINDOW)
    await queue.close()


async def test_a_loop_that_ended_fails_liveness(queue: Queue) -> None:
    worker = Worker(queue, Processor("gate", Gate()), CONFIG)

    async def ends() -> None:
        return None

    worker.liveness.loops = {"flusher": asyncio.create_task(ends())}
    assert worker.alive(WINDOW)  # still running, for one more step of the event loop
    await asyncio.sleep(0)
    assert worker.liveness.reasons(WINDOW) == ["the flusher loop ended"]
    assert not worker.alive(WINDOW)
