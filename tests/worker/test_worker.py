"""The worker in-process against a real Redis: outcomes, the retry schedule, pause, rate, HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from feedback_queue.job import Status
from feedback_queue.processing import JobContext, PermanentError, RetryableError
from feedback_queue.progress import as_result
from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from tests.conftest import FakeClock
from tests.helpers import submission
from worker_service import feedback
from worker_service.http_processor import HttpProcessor, retry_after
from worker_service.processors import Processor
from worker_service.worker import Worker

FAST = WorkerConfig(concurrency=4, job_timeout=5.0, shutdown_grace=2.0, block_timeout=0.1)


def make_worker(
    queue: Queue, fn: Callable[[JobContext], Awaitable[Any]], config: WorkerConfig = FAST
) -> Worker:
    return Worker(queue, Processor("test", fn), config, worker_id="w-test")


async def test_burst_drains_everything_with_feedback(queue: Queue) -> None:
    ids = [(await queue.enqueue(submission(f"Essay {i}. Short."))).id for i in range(30)]

    async def run(job: JobContext) -> Any:
        return feedback.process(job)

    worker = make_worker(queue, run)
    await worker.run(burst=True)
    assert worker.processed == 30
    for job_id in ids:
        job = await queue.get(job_id)
        assert job.status == Status.COMPLETED
        assert json.loads(job.record.result)["sentences"] == 2
    stats = await queue.stats()
    assert (stats.waiting, stats.active, stats.workers) == (0, 0, 0)  # left the registry


async def test_transient_failures_back_off_on_a_growing_schedule(
    queue: Queue, clock: FakeClock
) -> None:
    result = await queue.enqueue(submission())
    seen: list[int] = []

    async def flaky(job: JobContext) -> str:
        seen.append(job.attempt)
        raise RetryableError("model busy")

    worker = make_worker(queue, flaky)
    delays = []
    for attempt in (1, 2):
        await worker.run(burst=True)
        job = await queue.get(result.id)
        assert (job.status, job.attempts) == (Status.DELAYED, attempt)
        assert job.record.error == "model busy"
        delay = (job.record.run_at_ms - clock.now * 1000) / 1000
        ceiling = queue.config.backoff.ceiling(attempt)
        assert ceiling / 2 <= delay <= ceiling
        delays.append(delay)
        clock.advance(delay)
    await worker.run(burst=True)
    job = await queue.get(result.id)
    assert (job.status, job.attempts) == (Status.FAILED, 3)
    assert seen == [1, 2, 3]
    assert queue.config.backoff.ceiling(2) == 2 * queue.config.backoff.ceiling(1)


async def test_retry_after_is_a_floor_for_the_backoff(queue: Queue, clock: FakeClock) -> None:
    result = await queue.enqueue(submission())

    async def busy(job: JobContext) -> str:
        raise RetryableError("429", retry_after=30.0)

    await make_worker(queue, busy).run(burst=True)
    job = await queue.get(result.id)
    assert job.record.run_at_ms >= (clock.now + 30) * 1000


async def test_permanent_error_fails_at_once(queue: Queue) -> None:
    result = await queue.enqueue(submission())

    async def bad(job: JobContext) -> str:
        raise PermanentError("unreadable input")

    await make_worker(queue, bad).run(burst=True)
    job = await queue.get(result.id)
    assert (job.status, job.attempts) == (Status.FAILED, 1)
    assert job.record.error == "PermanentError: unreadable input"


async def test_processor_bug_is_retried_not_fatal(queue: Queue) -> None:
    result = await queue.enqueue(submission())

    async def buggy(job: JobContext) -> str:
        data: dict[str, str] = {}
        return data["missing"]

    worker = make_worker(queue, buggy)
    await worker.run(burst=True)
    job = await queue.get(result.id)
    assert job.status == Status.DELAYED
    assert job.record.error == "KeyError: 'missing'"


async def test_job_timeout(queue: Queue) -> None:
    result = await queue.enqueue(submission())
    started = asyncio.Event()

    async def hangs(job: JobContext) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    config = WorkerConfig(concurrency=1, job_timeout=0.05, block_timeout=0.1)
    await make_worker(queue, hangs, config).run(burst=True)
    assert started.is_set()
    job = await queue.get(result.id)
    assert job.status == Status.DELAYED
    assert "timed out after 0.05s (FBQ_JOB_TIMEOUT)" in job.record.error


async def test_no_hoarding_takes_only_free_slots(queue: Queue) -> None:
    for i in range(10):
        await queue.enqueue(submission(f"t{i}"))
    release = asyncio.Event()
    running = 0
    peak = 0

    async def gated(job: JobContext) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return "ok"

    worker = make_worker(queue, gated, WorkerConfig(concurrency=3, block_timeout=0.1))
    task = asyncio.create_task(worker.run())
    while running < 3:
        await worker.turned.wait()
        worker.turned.clear()
    stats = await queue.stats()
    assert (stats.active, stats.waiting) == (3, 7)  # the rest is left for other workers
    release.set()
    while (await queue.stats()).completed < 10:
        await worker.turned.wait()
        worker.turned.clear()
    worker.stop()
    await task
    assert peak == 3


async def test_pause_and_resume_are_honoured_by_a_running_worker(queue: Queue) -> None:
    done = asyncio.Event()

    async def note(job: JobContext) -> str:
        done.set()
        return "ok"

    worker = make_worker(queue, note, WorkerConfig(concurrency=2, block_timeout=0.1))
    await queue.pause()
    task = asyncio.create_task(worker.run())
    result = await queue.enqueue(submission())
    turns = worker.turns
    while worker.turns < turns + 3:  # it looked, and looked again, while paused
        await worker.turned.wait()
        worker.turned.clear()
    assert (await queue.get(result.id)).status == Status.WAITING
    assert not done.is_set()
    await queue.resume()
    await done.wait()
    worker.stop()
    await task
    assert (await queue.get(result.id)).status == Status.COMPLETED


async def test_sigterm_path_hands_running_jobs_back(queue: Queue) -> None:
    ids = [(await queue.enqueue(submission(f"t{i}"))).id for i in range(3)]
    started = asyncio.Event()

    async def stuck(job: JobContext) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    worker = make_worker(queue, stuck, WorkerConfig(concurrency=2, shutdown_grace=0.05))
    task = asyncio.create_task(worker.run())
    await started.wait()
    while len(worker.inflight) < 2:
        await worker.turned.wait()
        worker.turned.clear()
    worker.stop()
    await task
    stats = await queue.stats()
    assert (stats.waiting, stats.active, stats.workers) == (3, 0, 0)
    jobs = (await queue.take("next", 5)).jobs
    assert sorted(j.id for j in jobs) == sorted(ids)
    assert all(j.attempts == 1 for j in jobs)  # the interrupted attempt did not count


def test_liveness_window(queue: Queue) -> None:
    now = [100.0]

    async def ok(job: JobContext) -> str:
        return "ok"

    worker = Worker(queue, Processor("test", ok), FAST, monotonic=lambda: now[0])
    assert worker.alive(30)
    now[0] = 131.0
    assert not worker.alive(30)
    assert worker.liveness.reasons(30) == ["the fetch loop is stuck (31s late)"]


def test_results_are_stored_as_text() -> None:
    assert as_result(None) == ""
    assert as_result("plain") == "plain"
    assert as_result(b"\xff ok") == "\ufffd ok"
    assert as_result({"score": 1, "note": "é"}) == '{"score":1,"note":"é"}'


def test_retry_after_header() -> None:
    assert retry_after("7") == 7.0
    assert retry_after(None) == 0.0
    assert retry_after("soon") == 0.0
    assert retry_after("99999") == 3600.0
    assert retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0


class _ModelService(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.received.append(body)
        content = body["submission"]["content"]
        status, headers, reply = {
            "ok": (200, {}, b'{"feedback": "good"}'),
            "busy": (429, {"Retry-After": "7"}, b"slow down"),
            "broken": (500, {}, b"oops"),
            "bad": (400, {}, b"content is not an essay"),
        }[content]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def model_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feedback"
    server.shutdown()
    server.server_close()


@pytest.fixture
async def http_processor(model_service: str) -> AsyncIterator[HttpProcessor]:
    processor = HttpProcessor(model_service, timeout=5.0)
    yield processor
    await processor.aclose()


async def test_http_processor(
    queue: Queue, clock: FakeClock, http_processor: HttpProcessor
) -> None:
    ids = {c: (await queue.enqueue(submission(c))).id for c in ("ok", "busy", "broken", "bad")}
    await make_worker(queue, http_processor).run(burst=True)
    ok, busy, broken, bad = [await queue.get(ids[c]) for c in ("ok", "busy", "broken", "bad")]
    assert (ok.status, ok.record.result) == (Status.COMPLETED, '{"feedback": "good"}')
    assert busy.status == Status.DELAYED
    assert busy.record.error == "the model service answered HTTP 429"
    assert busy.record.run_at_ms >= (clock.now + 7) * 1000  # Retry-After honoured
    assert (broken.status, broken.record.error) == (
        Status.DELAYED,
        "the model service answered HTTP 500",
    )
    assert bad.status == Status.FAILED
    assert "HTTP 400: content is not an essay" in bad.record.error
    sent = {b["submission"]["content"]: b for b in _ModelService.received}
    assert sent["ok"]["id"] == ids["ok"]
    assert sent["ok"]["attempt"] == 1
    assert sent["ok"]["submission"]["submitter_id"] == "learner-1"


async def test_http_processor_unreachable_is_retryable() -> None:
    processor = HttpProcessor("http://127.0.0.1:9/none", timeout=2.0)
    job = JobContext("id1", submission(), 1, 3)
    with pytest.raises(RetryableError, match="cannot reach the model service"):
        await processor(job)
    await processor.aclose()
