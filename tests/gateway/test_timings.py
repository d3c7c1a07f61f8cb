"""The fleet's histograms in the gateway's /metrics (parsed by prometheus-client): what the
workers added to Redis, with cumulative buckets, +Inf, sums and counts."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from feedback_queue import timing
from feedback_queue.timing import Tally
from tests.gateway.conftest import Stack


async def test_metrics_show_the_fleets_histograms(stack: Stack) -> None:
    assert stack.ingest is not None
    queue = stack.ingest.queue
    for worker, seconds in (("w1", [0.004, 0.2, 0.2]), ("w2", [7.0])):
        tally = Tally()
        for s in seconds:
            tally.observe(timing.PROCESSING, ("essay", "completed"), s)
        tally.observe(timing.WAIT, ("essay",), 0.03)
        assert await queue.add_timings(worker, 1, tally.take())
    reply = await stack.http.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    runs = {
        s.labels["le"]: s.value
        for s in families["fbq_processing_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert runs["0.005"] == 1  # cumulative: the 4 ms run
    assert runs["0.25"] == 3
    assert runs["5"] == 3
    assert runs["10"] == runs["+Inf"] == 4
    totals = {
        s.name: s.value
        for s in families["fbq_processing_seconds"].samples
        if "_bucket" not in s.name
    }
    assert totals["fbq_processing_seconds_count"] == 4
    assert round(totals["fbq_processing_seconds_sum"], 6) == 7.404
    waits = [s for s in families["fbq_queue_wait_seconds"].samples if s.name.endswith("_count")]
    assert [(w.labels, w.value) for w in waits] == [({"kind": "essay"}, 2.0)]
