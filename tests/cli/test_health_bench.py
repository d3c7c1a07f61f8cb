"""fbq health as an exec probe, and fbq bench's report."""

from __future__ import annotations

import json

from feedback_queue.cli.commands.bench import payload, percentiles, shares
from feedback_queue.job import Status
from feedback_queue.up.embedded import free_port
from tests.cli.conftest import Fbq, address, fbq_process
from tests.ingest.conftest import Ingest, StartIngest


async def test_health_serving_exits_0(fbq: Fbq, ingest: Ingest) -> None:
    result = await fbq("health", address(ingest))
    assert (result.code, result.out, result.err) == (0, "SERVING\n", "")
    named = await fbq(
        "health", address(ingest), "--service", "feedback_queue.v1.SubmissionService", "--json"
    )
    assert named.code == 0
    assert json.loads(named.out) == {
        "address": address(ingest),
        "service": "feedback_queue.v1.SubmissionService",
        "status": "SERVING",
        "serving": True,
        "reason": None,
    }


async def test_health_unknown_service_and_not_serving_exit_1(fbq: Fbq, ingest: Ingest) -> None:
    unknown = await fbq("health", address(ingest), "--service", "nope")
    assert unknown.code == 1
    assert unknown.err == f'fbq: error: {address(ingest)} does not know service "nope"\n'
    await ingest.server.health.shutdown()  # what SIGTERM does first: every service NOT_SERVING
    down = await fbq("health", address(ingest), "--json")
    assert down.code == 1
    assert json.loads(down.out)["status"] == "NOT_SERVING"
    human = await fbq("health", address(ingest))
    assert human.err == f'fbq: error: {address(ingest)}: service "" is NOT_SERVING\n'


async def test_health_unreachable_is_one_line_and_exit_1() -> None:
    port = free_port()
    result = await fbq_process("health", f"127.0.0.1:{port}", "--timeout", "2s")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"fbq: error: cannot reach 127.0.0.1:{port} (")
    assert result.err.count("\n") == 1


async def test_bench_unary_reports_counts_and_percentiles(fbq: Fbq, ingest: Ingest) -> None:
    result = await fbq(
        "bench", "--addr", address(ingest), "--count", "20", "--concurrency", "4", "--json"
    )
    assert result.code == 0
    report = json.loads(result.out)
    assert (report["mode"], report["count"], report["accepted"], report["failed"]) == (
        "unary",
        20,
        20,
        {},
    )
    latency = report["latency_ms"]
    assert set(latency) == {"p50", "p90", "p99", "max"}
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert report["throughput_per_s"] > 0
    stats = await ingest.queue.stats()
    assert stats.waiting == 20


async def test_bench_stream_human_report(fbq: Fbq, ingest: Ingest) -> None:
    result = await fbq(
        "bench", "--addr", address(ingest), "--count", "30", "--concurrency", "2", "--stream",
        "--payload-bytes", "64",
    )  # fmt: skip
    assert result.code == 0
    labels = [line.split()[0] for line in result.lines]
    assert labels == ["30", "accepted", "failed", "elapsed", "throughput", "latency"]
    assert "SubmitStream, concurrency 2" in result.lines[0]
    assert result.lines[1].split() == ["accepted", "30"]
    assert result.lines[2].split() == ["failed", "0"]
    assert [w for w in result.lines[5].split() if w.startswith("p") or w == "max"] == [
        "p50",
        "p90",
        "p99",
        "max",
    ]
    page = await ingest.queue.list_by_status(Status.WAITING, limit=1)
    assert len(page.jobs[0].submission.content) == 64


async def test_bench_counts_failures_by_status_code(fbq: Fbq, start_ingest: StartIngest) -> None:
    ingest = await start_ingest(max_content_bytes=100)
    result = await fbq(
        "bench", "--addr", address(ingest), "--count", "5", "--payload-bytes", "200", "--json"
    )
    assert result.code == 1
    assert json.loads(result.out)["failed"] == {"INVALID_ARGUMENT": 5}
    assert "submission.content" in result.err  # nothing got through: the reason, once


def test_percentiles_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentiles(samples) == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
    assert percentiles([3.0]) == {"p50": 3.0, "p90": 3.0, "p99": 3.0, "max": 3.0}
    assert percentiles([]) == {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}


def test_shares_and_payload() -> None:
    assert shares(10, 3) == [4, 3, 3]
    assert shares(2, 8) == [1, 1]
    assert all(len(payload(n).encode()) == n for n in (1, 45, 46, 200, 1000))
