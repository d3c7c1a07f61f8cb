"""Prometheus metrics: one scrape asks ingest for the redis-health report and the fair share,
and turns them into gauges and counters (prometheus-client's collectors are synchronous, so the
route fetches the reports first and the collector reads those snapshots).

Per fairness key, cardinality stays bounded: the METRICS_TOP_KEYS keys with the most waiting
work by name, and every other key summed under key="other" (a real key named "other" is summed
there too, so no series is written twice)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from feedback_queue import timing
from feedback_queue.v1 import queue_pb2 as pb

METRICS_TOP_KEYS = 10
OTHER = "other"


class QueueCollector(Collector):
    def __init__(self) -> None:
        self.snapshot: pb.RedisHealth | None = None
        self.fair_share: pb.FairShare | None = None
        self.timings: pb.Timings | None = None

    def collect(self) -> Iterator[Metric]:
        h = self.snapshot
        up = GaugeMetricFamily("fbq_redis_up", "1 while Redis answers the ingest service")
        up.add_metric([], 1.0 if h is not None and h.connected else 0.0)
        yield up
        if h is None or not h.connected:
            return
        q = h.queue_stats
        depth = GaugeMetricFamily(
            "fbq_queue_submissions", "Submissions in each state now", labels=["state"]
        )
        for state, value in (
            ("waiting", q.waiting),
            ("active", q.active),
            ("delayed", q.delayed),
            ("failed", q.failed),
        ):
            depth.add_metric([state], float(value))
        yield depth
        yield _gauge("fbq_workers", "Workers with a live heartbeat", q.workers)
        yield _gauge("fbq_queue_paused", "1 while the queue is paused", int(q.paused))
        for name, doc, value in (
            ("fbq_submissions_enqueued", "Submissions accepted", q.enqueued_total),
            ("fbq_submissions_completed", "Submissions completed", q.completed),
            ("fbq_submissions_failed", "Submissions dead-lettered", q.failed_total),
            (
                "fbq_submissions_retried",
                "Attempts scheduled again after a failure",
                q.retried_total,
            ),
            ("fbq_submissions_recovered", "Jobs returned from silent workers", q.recovered_total),
            ("fbq_submissions_cancelled", "Submissions cancelled", q.cancelled_total),
        ):
            counter = CounterMetricFamily(name, doc)
            counter.add_metric([], float(value))
            yield counter
        m = h.memory_usage
        yield _gauge("fbq_redis_memory_used_bytes", "Redis used_memory", m.used_bytes)
        yield _gauge(
            "fbq_redis_memory_total_bytes", "maxmemory, else the machine's memory", m.total_bytes
        )
        yield _gauge("fbq_redis_latency_seconds", "Round trip of one PING", h.latency_ms / 1000)
        yield _gauge("fbq_redis_connected_clients", "Redis connected_clients", h.connected_clients)
        yield from cpu_metrics(h.cpu)
        healthy = GaugeMetricFamily(
            "fbq_redis_health", "1 for the current health status", labels=["status"]
        )
        for status in ("healthy", "degraded", "unhealthy"):
            healthy.add_metric([status], 1.0 if h.status == status else 0.0)
        yield healthy
        if self.fair_share is not None:
            yield from fair_share_metrics(self.fair_share)
        if self.timings is not None:
            yield from histogram_metrics(self.timings)


def histogram_metrics(timings: pb.Timings) -> Iterator[Metric]:
    """The fleet's histograms, as Prometheus's (cumulative buckets, +Inf last)."""
    families: dict[str, HistogramMetricFamily] = {}
    for h in timings.histograms:
        names = sorted(h.labels)
        family = families.get(h.name)
        if family is None:
            family = HistogramMetricFamily(h.name, timing.HELP.get(h.name, h.name), labels=names)
            families[h.name] = family
        series = timing.Series(counts=list(h.counts), sum=h.sum)
        family.add_metric([h.labels[n] for n in names], series.buckets(), h.sum)
    yield from families.values()


def cpu_metrics(cpu: pb.RedisCpu) -> Iterator[Metric]:
    """Redis's CPU seconds as counters (for rate()), and ingest's own rate while it knows one."""
    seconds = CounterMetricFamily(
        "fbq_redis_cpu_seconds",
        "CPU seconds used by the Redis server since it started (INFO cpu)",
        labels=["mode"],
    )
    seconds.add_metric(["user"], cpu.user_seconds)
    seconds.add_metric(["sys"], cpu.sys_seconds)
    yield seconds
    if cpu.HasField("utilization"):
        yield _gauge(
            "fbq_redis_cpu_utilization",
            "Fraction of one core Redis used over the last interval, by its own clock",
            cpu.utilization,
        )


def fair_share_metrics(share: pb.FairShare) -> Iterator[Metric]:
    """Per key waiting, active and started (the top keys and "other"), waiting per priority."""
    other = [share.other.waiting, share.other.active, share.other.started]
    named: list[tuple[str, list[int]]] = []
    for k in share.keys:
        counts = [k.waiting, k.active, k.started]
        if k.key == OTHER:
            other = [a + b for a, b in zip(other, counts, strict=True)]
        else:
            named.append((k.key, counts))
    rows = [*named, (OTHER, other)]
    waiting = GaugeMetricFamily(
        "fbq_key_waiting", "Waiting submissions of a fairness key", labels=["key"]
    )
    active = GaugeMetricFamily(
        "fbq_key_active", "ACTIVE submissions of a fairness key", labels=["key"]
    )
    started = CounterMetricFamily(
        "fbq_key_started",
        "Starts of a fairness key's work since it last had nothing waiting (resets then)",
        labels=["key"],
    )
    for key, (w, a, s) in rows:
        waiting.add_metric([key], float(w))
        active.add_metric([key], float(a))
        started.add_metric([key], float(s))
    yield waiting
    yield active
    yield started
    yield _gauge("fbq_keys_waiting", "Fairness keys with waiting work", share.keys_waiting)
    priority = GaugeMetricFamily(
        "fbq_waiting_by_priority", "Waiting submissions per priority", labels=["priority"]
    )
    for name, value in (
        ("high", share.waiting_high),
        ("normal", share.waiting_normal),
        ("low", share.waiting_low),
    ):
        priority.add_metric([name], float(value))
    yield priority


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, doc)
    gauge.add_metric([], float(value))
    return gauge
