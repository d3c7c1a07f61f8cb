"""A worker process's histograms (feedback_queue/timing.py): served on FBQ_WORKER_METRICS_PORT
when it is set, and added to the fleet's in Redis by each fetch loop's housekeeping.

One `WorkerMetrics` per process, shared by its fetch loops (one per shard, or two when the slots
are many); each loop keeps the tally of its own queue (`Timings`), sent to that queue's Redis.
An observation costs two list increments (the process's totals and the loop's tally): the
histograms are rendered from the totals only when /metrics is read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from feedback_queue.job import Job
from feedback_queue.queue import Queue
from feedback_queue.timing import HELP, LABELS, PROCESSING, WAIT, Kinds, Tally

log = logging.getLogger(__name__)


class WorkerMetrics(Collector):
    def __init__(self, max_kinds: int) -> None:
        self.kinds = Kinds(max_kinds)
        self.totals = Tally()  # since the process started: never taken
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics on `host:port` from a daemon thread (prometheus_client's server)."""
        start_http_server(port, addr=host.strip("[]"), registry=self.registry)
        log.info("worker metrics on :%d", port)

    def started(self, job: Job, tally: Tally) -> None:
        """A first attempt started: its wait, both ends stamped by Redis."""
        if job.attempts == 1 and job.record.started_ms:
            seconds = max(job.record.started_ms - job.record.enqueued_ms, 0) / 1000
            self._observe(WAIT, (self.kinds(job.submission.kind),), seconds, tally)

    def ended(self, job: Job, seconds: float, outcome: str, tally: Tally) -> None:
        self._observe(PROCESSING, (self.kinds(job.submission.kind), outcome), seconds, tally)

    def _observe(self, name: str, labels: tuple[str, ...], seconds: float, tally: Tally) -> None:
        self.totals.observe(name, labels, seconds)
        tally.observe(name, labels, seconds)

    def collect(self) -> Iterator[Metric]:
        """The process's histograms since it started (cumulative buckets, +Inf last)."""
        families = {
            name: HistogramMetricFamily(name, HELP[name], labels=list(LABELS[name]))
            for name in LABELS
        }
        for (name, labels), series in sorted(self.totals.series.items()):
            families[name].add_metric(list(labels), series.buckets(), series.sum)
        yield from families.values()


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
