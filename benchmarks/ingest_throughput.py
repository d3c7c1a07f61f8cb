"""Ingest throughput over gRPC, beside the core's direct enqueue measured in the same run.

    .venv/bin/python -m benchmarks.ingest_throughput --jobs 20000

Starts its own redis-server (AOF on, appendfsync everysec) and the ingest service as a separate
process (`python -m ingest_service`), then measures from this process over one real channel:
  - the core's direct `Queue.enqueue`, one at a time (the baseline)
  - unary Submit with 1 caller, and with 32 concurrent callers
  - SubmitStream: one bidirectional stream carrying every submission
  - SubmitBatch: batches of 1,000, one call at a time
Figures are submissions/s; ratios are against the baseline. Then the latency of one caller,
one call at a time (`--latency-calls`): p50 and p99 of the direct enqueue and of unary Submit.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc

from benchmarks.common import payload_submission, rate, wait_ready
from feedback_queue.client import AsyncClient, Submission, new_key
from feedback_queue.connection import create_client
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
SUBMISSION = payload_submission()


async def direct_enqueue(port: int, jobs: int) -> float:
    client = create_client(RedisSettings(host="127.0.0.1", port=port))
    queue = Queue(client, QueueConfig(name="bench-direct"))

    async def work() -> None:
        for _ in range(jobs):
            await queue.enqueue(SUBMISSION)

    result = await rate(jobs, work)
    await client.aclose()
    return result


async def over_grpc(address: str, jobs: int) -> dict[str, float]:
    results: dict[str, float] = {}
    await asyncio.wait_for(wait_ready(address), 60)  # an ingest that died never gets ready
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.SubmissionServiceStub(channel)
        request = pb.SubmitRequest(submission=SUBMISSION)

        async def callers(n: int) -> None:
            async def caller(count: int) -> None:
                for _ in range(count):
                    await stub.Submit(request)

            await asyncio.gather(*(caller(jobs // n) for _ in range(n)))

        results["Submit, 1 caller"] = await rate(jobs, lambda: callers(1))
        results["Submit, 32 callers"] = await rate(jobs, lambda: callers(32))

        async def requests() -> AsyncIterator[pb.SubmitRequest]:
            for _ in range(jobs):
                yield request

        async def stream() -> None:
            accepted = 0
            async for reply in stub.SubmitStream(requests()):
                accepted += reply.WhichOneof("outcome") == "accepted"
            assert accepted == jobs, f"only {accepted} of {jobs} accepted"

        results["SubmitStream, 1 stream"] = await rate(jobs, stream)

        batch = pb.SubmitBatchRequest(requests=[request] * BATCH)

        async def batches() -> None:
            for _ in range(jobs // BATCH):
                reply = await stub.SubmitBatch(batch)
                assert reply.accepted == BATCH, f"only {reply.accepted} of {BATCH} accepted"

        try:
            results[f"SubmitBatch of {BATCH}, 1 caller"] = await rate(
                jobs // BATCH * BATCH, batches
            )
        except grpc.aio.AioRpcError as exc:  # an --ingest-tree from before SubmitBatch
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
    return results


BATCH = 1000


async def latencies(calls: int, call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """p50 and p99 in ms of `calls` calls, one at a time (after 100 not counted)."""
    for _ in range(100):
        await call()
    times = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        await call()
        times.append((time.perf_counter_ns() - started) / 1e6)
    cuts = statistics.quantiles(times, n=100)
    return cuts[49], cuts[98]


async def latency(redis_port: int, address: str, calls: int) -> dict[str, tuple[float, float]]:
    client = create_client(RedisSettings(host="127.0.0.1", port=redis_port))
    queue = Queue(client, QueueConfig(name="bench-latency"))
    results = {"core enqueue, direct": await latencies(calls, lambda: queue.enqueue(SUBMISSION))}
    await client.aclose()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.SubmissionServiceStub(channel)
        request = pb.SubmitRequest(submission=SUBMISSION)
        results["unary Submit"] = await latencies(calls, lambda: stub.Submit(request))
    async with AsyncClient(address) as fbq:  # a lone submit goes out at once, unary
        sub = Submission(SUBMISSION.content, SUBMISSION.submitter_id)
        results["AsyncClient.submit (a new key each)"] = await latencies(
            calls, lambda: fbq.submit(dataclasses.replace(sub, idempotency_key=new_key()))
        )
    return results


async def main(jobs: int, calls: int, tree: Path) -> None:
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
        baseline = await direct_enqueue(redis.port, jobs)
        port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
            "FBQ_QUEUE": "bench-ingest",
            "FBQ_INGEST_PORT": str(port),
            "FBQ_INGEST_HOST": "127.0.0.1",  # loopback: no credentials needed
            "FBQ_LOG_LEVEL": "WARNING",
        }
        # Another checkout's ingest (--ingest-tree) runs its own code, with its own venv.
        python = tree / ".venv" / "bin" / "python"
        env["PYTHONPATH"] = str(tree)
        server = subprocess.Popen(
            [str(python if python.exists() else sys.executable), "-m", "ingest_service"],
            env=env,
            cwd=tree,
        )
        try:
            measured = await over_grpc(f"127.0.0.1:{port}", jobs)
            waits = await latency(redis.port, f"127.0.0.1:{port}", calls)
        finally:
            server.terminate()
            server.wait(30)
    print(f"ingest over gRPC, {jobs} submissions of 200 bytes, server in its own process")
    print(f"\n{'measure':36} {'submissions/s':>14}  ratio to direct enqueue")
    print(f"{'core enqueue, direct, one at a time':36} {baseline:14,.0f}  1.00x")
    for name, value in measured.items():
        print(f"{name:36} {value:14,.0f}  {value / baseline:.2f}x")
    print(
        f"\n32-caller Submit = {measured['Submit, 32 callers'] / baseline:.2f}x direct "
        f"(target >= 0.5x); SubmitStream = "
        f"{measured['SubmitStream, 1 stream'] / baseline:.2f}x direct (target >= 1.5x)"
    )
    print(f"\none caller, {calls} calls one at a time: latency in ms")
    base50, base99 = waits["core enqueue, direct"]
    print(f"{'measure':36} {'p50':>8} {'p99':>8}  p50, p99 ratio to direct enqueue")
    for name, (p50, p99) in waits.items():
        print(f"{name:36} {p50:8.3f} {p99:8.3f}  {p50 / base50:.2f}x, {p99 / base99:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="submissions per measurement")
    parser.add_argument("--latency-calls", type=int, default=3000, help="calls per latency")
    parser.add_argument(
        "--ingest-tree",
        type=Path,
        default=ROOT,
        help="the checkout whose ingest to run (a before/after of a change: run it on each)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.latency_calls, args.ingest_tree.resolve()))
