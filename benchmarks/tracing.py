"""The cost of tracing on a drain: one worker process, tracing off and on, in the same run.

    .venv/bin/python -m benchmarks.tracing --jobs 20000 --rounds 5

Starts its own redis-server and an OTLP receiver (benchmarks/otlp_sink.py, a process of its
own). Each round drains the same jobs three times with `python -m worker_service` (no-op
processor, concurrency 64), in an order that turns between rounds:
- off: jobs without a trace context, the worker without OTEL_EXPORTER_OTLP_ENDPOINT;
- on: every job carries a sampled traceparent (as a traced Submit leaves it) and the worker
  exports one span per attempt over OTLP (batched);
- 1 in 10: as on, but only one job in ten was sampled by its caller (the others' traceparent
  says not sampled, as OTEL_TRACES_SAMPLER=parentbased_traceidratio at 0.1 leaves them): the
  worker follows the caller's decision and records nothing for the rest.
The headline is the median of the rounds' own ratios (against off); the medians of each are
printed beside it. Redis time per job is not measured here: tracing adds work in the worker
(a span per attempt, the export) and in Redis (the record's extra, which takes the ack off its
fast path).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.common import ROOT, payload_submission, timed_drain
from feedback_queue.connection import create_client
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED = TRACEPARENT[:-2] + "00"
OFF, ON, TENTH = "off", "on", "1 in 10"


async def drain(
    redis_port: int, client: Redis, jobs: int, otlp: int | None, every: int = 1
) -> float:
    """Jobs per second of one worker process draining `jobs`, traced when `otlp` is a port
    (one job in `every` sampled)."""
    await client.flushdb()
    queue = Queue(client, QueueConfig(name="bench-tracing"))
    await queue.pause()
    batch = [(payload_submission(), 0.0)] * jobs
    traces = [TRACEPARENT if i % every == 0 else UNSAMPLED for i in range(jobs)] if otlp else []
    for start in range(0, jobs, 10_000):
        part = traces[start : start + 10_000] if traces else []
        await queue.enqueue_many(batch[start : start + 10_000], traces=part)
    health = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FBQ_"))}
    env |= {
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "FBQ_QUEUE": queue.name,
        "FBQ_PROCESSOR": "benchmarks.processors:noop",
        "FBQ_CONCURRENCY": "64",
        "FBQ_WORKER_HEALTH_HOST": "127.0.0.1",
        "FBQ_WORKER_HEALTH_PORT": str(health),
        "FBQ_LOG_LEVEL": "WARNING",
    }
    if otlp:
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }
    return await timed_drain(queue, jobs, env)


async def main(jobs: int, rounds: int) -> None:
    sink_port = free_port()
    argv = [sys.executable, "-m", "benchmarks.otlp_sink", str(sink_port)]
    sink = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    rates: dict[str, list[float]] = {OFF: [], ON: [], TENTH: []}
    try:
        with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as server:
            client = create_client(RedisSettings(host="127.0.0.1", port=server.port))
            for r in range(rounds):
                for case in (OFF, ON, TENTH)[r % 3 :] + (OFF, ON, TENTH)[: r % 3]:
                    otlp = None if case == OFF else sink_port
                    every = 10 if case == TENTH else 1
                    rates[case].append(await drain(server.port, client, jobs, otlp, every))
            await client.aclose()
    finally:
        sink.terminate()
        received, _ = sink.communicate(timeout=10)
    off = rates[OFF]
    on = [a / b for a, b in zip(rates[ON], off, strict=True)]
    tenth = [a / b for a, b in zip(rates[TENTH], off, strict=True)]
    print(f"one worker process, no-op processor, concurrency 64, {jobs} jobs, {rounds} rounds")
    print(f"{'round':>6} {'off jobs/s':>12} {'on jobs/s':>12} {'1/10 jobs/s':>12}")
    for r, (a, b, c) in enumerate(zip(off, rates[ON], rates[TENTH], strict=True), 1):
        print(f"{r:>6} {a:12,.0f} {b:12,.0f} {c:12,.0f}")
    print(
        f"\ntracing on = {statistics.median(on):.2f}x off, 1 in 10 sampled = "
        f"{statistics.median(tenth):.2f}x off (medians of the rounds' ratios); medians "
        f"{statistics.median(rates[ON]):,.0f}, {statistics.median(rates[TENTH]):,.0f} and "
        f"{statistics.median(off):,.0f} jobs/s"
    )
    expected = rounds * (jobs + (jobs + 9) // 10)
    print(f"the receiver: {received.strip()} (expected {expected}: one per sampled attempt)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per drain")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of off and on")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.rounds))
