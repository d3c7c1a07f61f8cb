"""A worker process's histograms (feedback_queue/timing.py): served on FBQ_WORKER_METRICS_PORT
when it is set, and added to the fleet's in Redis by each fetch loop's housekeeping.

One `WorkerMetrics` per process, shared by its fetch loops (one per shard, or two when the slots
are many); each loop keeps the tally of its own queue (`tally_for`), sent to that queue's Redis.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Histogram, start_http_server

from feedback_queue.job import Job
from feedback_queue.queue import Queue
from feedback_queue.timing import BOUNDS, HELP, PROCESSING, WAIT, Kinds, Tally

log = logging.getLogger(__name__)


class WorkerMetrics:
    def __init__(self, max_kinds: int) -> None:
        self.registry = CollectorRegistry()
        self.kinds = Kinds(max_kinds)
        self.wait = Histogram(
            WAIT,
            HELP[WAIT],
            ["kind"],
            buckets=BOUNDS,
            registry=self.registry,
        )
        self.processing = Histogram(
            PROCESSING,
            HELP[PROCESSING],
            ["kind", "outcome"],
            buckets=BOUNDS,
            registry=self.registry,
        )

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics on `host:port` from a daemon thread (prometheus_client's server)."""
        start_http_server(port, addr=host.strip("[]"), registry=self.registry)
        log.info("worker metrics on :%d", port)

    def started(self, job: Job, tally: Tally) -> None:
        """A first attempt started: its wait, both ends stamped by Redis."""
        if job.attempts == 1 and job.record.started_ms:
            kind = self.kinds(job.submission.kind)
            seconds = max(job.record.started_ms - job.record.enqueued_ms, 0) / 1000
            self.wait.labels(kind).observe(seconds)
            tally.observe(WAIT, (kind,), seconds)

    def ended(self, job: Job, seconds: float, outcome: str, tally: Tally) -> None:
        kind = self.kinds(job.submission.kind)
        self.processing.labels(kind, outcome).observe(seconds)
        tally.observe(PROCESSING, (kind, outcome), seconds)


class Timings:
    """One fetch loop's tally, sent to its queue's Redis as numbered batches (timing.lua): a
    batch that fails is sent again under the same number, so a lost reply counts nothing
    twice, and nothing counted is dropped."""

    def __init__(self, queue: Queue, worker_id: str) -> None:
        self.queue = queue
        self.worker_id = worker_id
        self.tally = Tally()
        self._unsent: tuple[int, list[tuple[str, float]]] | None = None
        self._batch = 0

    async def send(self) -> None:
        if self._unsent is None:
            fields = self.tally.take()
            if not fields:
                return
            self._batch += 1
            self._unsent = (self._batch, fields)
        batch, fields = self._unsent
        await self.queue.add_timings(self.worker_id, batch, fields)
        self._unsent = None
