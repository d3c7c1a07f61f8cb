"""Where the time went, from a real worker: its own /metrics (histograms of queue wait and
processing time per kind, parsed by prometheus-client) and the fleet's counts it adds to Redis,
counted once even when a batch is sent again."""

from __future__ import annotations

import contextlib

import httpx
from prometheus_client.parser import text_string_to_metric_families

from feedback_queue import timing
from feedback_queue.errors import QueueUnavailable
from feedback_queue.processing import JobContext, PermanentError
from feedback_queue.queue import Queue
from feedback_queue.settings import WorkerConfig
from feedback_queue.up.embedded import free_port
from tests.helpers import submission
from worker_service.metrics import Timings, WorkerMetrics
from worker_service.processors import from_function
from worker_service.worker import Worker

CONFIG = WorkerConfig(concurrency=4, shutdown_grace=2.0, block_timeout=0.1)


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric family: labels (sorted) -> value."""
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {tuple(sorted(s.labels.items())): s.value for s in family.samples}
    return {}


async def test_a_worker_counts_wait_and_processing_per_kind(queue: Queue) -> None:
    async def process(job: JobContext) -> str:
        if job.submission.kind == "bad":
            raise PermanentError("unusable")
        return "ok"

    for kind in ("essay", "essay", "summary", "bad"):
        await queue.enqueue(submission(f"a {kind}", kind=kind))
    metrics = WorkerMetrics(max_kinds=2)  # essay and summary; "bad" comes third: other
    port = free_port()
    metrics.serve("127.0.0.1", port)
    worker = Worker(queue, from_function("p", process, 2), CONFIG, metrics=metrics)
    await worker.run(burst=True)  # its counts go to Redis each turn, and at its shutdown
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    counts = {
        k: v for k, v in samples(text, "fbq_queue_wait_seconds").items() if ("le", "+Inf") in k
    }
    assert counts == {
        (("kind", "essay"), ("le", "+Inf")): 2.0,
        (("kind", "other"), ("le", "+Inf")): 1.0,
        (("kind", "summary"), ("le", "+Inf")): 1.0,
    }
    runs = {k: v for k, v in samples(text, "fbq_processing_seconds").items() if ("le", "+Inf") in k}
    assert runs == {
        (("kind", "essay"), ("le", "+Inf"), ("outcome", "completed")): 2.0,
        (("kind", "other"), ("le", "+Inf"), ("outcome", "failed")): 1.0,
        (("kind", "summary"), ("le", "+Inf"), ("outcome", "completed")): 1.0,
    }
    fleet = {(h.name, h.labels): h.series for h in await queue.timings()}
    essay = fleet[(timing.WAIT, (("kind", "essay"),))]
    assert essay.count == 2
    assert essay.sum >= 0
    assert fleet[(timing.PROCESSING, (("kind", "other"), ("outcome", "failed")))].count == 1


class Flaky(Queue):
    """A queue whose next add_timings writes, then loses its reply."""

    lose_reply = False

    async def add_timings(self, worker: str, batch: int, fields: list[tuple[str, float]]) -> bool:  # type: ignore[override]
        added = await super().add_timings(worker, batch, fields)
        if self.lose_reply:
            self.lose_reply = False
            raise QueueUnavailable("the reply was lost")
        return added


async def test_a_batch_whose_reply_was_lost_is_sent_again_and_counted_once(queue: Queue) -> None:
    flaky = Flaky(queue.client, queue.config, address=queue.address)
    timings = Timings(flaky, "w1")
    timings.tally.observe(timing.WAIT, ("essay",), 0.2)
    flaky.lose_reply = True
    with contextlib.suppress(QueueUnavailable):
        await timings.send()
    timings.tally.observe(timing.WAIT, ("essay",), 0.3)  # counted meanwhile: the next batch
    await timings.send()  # the same batch again: Redis has it, adds nothing
    await timings.send()  # then the next one
    [wait] = await queue.timings()
    assert wait.series.count == 2
    assert round(wait.series.sum, 6) == 0.5
    assert wait.series.counts[timing.bucket_of(0.2)] == 1
    assert wait.series.counts[timing.bucket_of(0.3)] == 1


def test_kinds_beyond_the_limit_are_other() -> None:
    kinds = timing.Kinds(2)
    assert [kinds(k) for k in ("a", "b", "c", "a", "", "other")] == [
        "a",
        "b",
        "other",
        "a",
        "other",
        "other",
    ]
    assert timing.bucket_of(0.005) == 0
    assert timing.bucket_of(1e9) == len(timing.BOUNDS)
