"""Prometheus metrics: one scrape asks ingest for the redis-health report and turns it into
gauges and counters (prometheus-client's collectors are synchronous, so the route fetches the
report first and the collector reads that snapshot)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feedback_queue.v1 import queue_pb2 as pb


class QueueCollector(Collector):
    def __init__(self) -> None:
        self.snapshot: pb.RedisHealth | None = None

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
        healthy = GaugeMetricFamily(
            "fbq_redis_health", "1 for the current health status", labels=["status"]
        )
        for status in ("healthy", "degraded", "unhealthy"):
            healthy.add_metric([status], 1.0 if h.status == status else 0.0)
        yield healthy


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, doc)
    gauge.add_metric([], float(value))
    return gauge
