"""fbq bench: a load generator against ingest (unary Submit or SubmitStream).

The submissions are real: they are enqueued and workers will process them. Latency is from
handing a request to gRPC until its answer; with --stream that includes the wait behind the
requests ahead of it in the same stream.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from feedback_queue.cli.commands import connect
from feedback_queue.cli.commands.errors import CliError
from feedback_queue.cli.commands.output import Output
from feedback_queue.client import AsyncClient
from feedback_queue.client.errors import CODES, from_call
from feedback_queue.settings import Bounds
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc

SUBMITTER = "fbq-bench"
WORDS = "The quick brown fox jumps over the lazy dog. "
Clock = Callable[[], float]


@dataclass
class Tally:
    """What the calls did: latency of each accepted one, failures by status code."""

    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    first_error: grpc.aio.AioRpcError | None = None

    def fail(self, code: str, count: int = 1, exc: grpc.aio.AioRpcError | None = None) -> None:
        self.failures[code] += count
        if exc is not None and self.first_error is None:
            self.first_error = exc


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 (nearest rank) and max of `samples`; zeros when there are none."""
    if not samples:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(samples)
    rank = {p: ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)] for p in (50, 90, 99)}
    return {"p50": rank[50], "p90": rank[90], "p99": rank[99], "max": ordered[-1]}


def payload(size: int) -> str:
    """`size` bytes of plain text."""
    return (WORDS * (size // len(WORDS) + 1))[:size].rstrip().ljust(size, ".")


def shares(count: int, parts: int) -> list[int]:
    """`count` split into `parts` near-equal non-empty shares."""
    parts = max(1, min(parts, count))
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


async def run_unary(
    client: AsyncClient, request: pb.SubmitRequest, count: int, concurrency: int, clock: Clock
) -> Tally:
    # The generated stub on the client's channel: what is measured is one unary Submit per
    # submission, with neither the client's batching nor its retries.
    stub = pb_grpc.SubmissionServiceStub(client.channel)
    tally = Tally()

    async def caller(n: int) -> None:
        for _ in range(n):
            start = clock()
            try:
                await stub.Submit(request, timeout=client.timeout, metadata=client.metadata)
            except grpc.aio.AioRpcError as exc:
                tally.fail(exc.code().name, exc=exc)
            else:
                tally.latencies.append(clock() - start)

    await asyncio.gather(*(caller(n) for n in shares(count, concurrency)))
    return tally


async def run_stream(
    client: AsyncClient, request: pb.SubmitRequest, count: int, concurrency: int, clock: Clock
) -> Tally:
    stub = pb_grpc.SubmissionServiceStub(client.channel)
    tally = Tally()

    async def stream(n: int) -> None:
        sent: list[float] = []

        async def requests() -> AsyncIterator[pb.SubmitRequest]:
            for _ in range(n):
                sent.append(clock())
                yield request

        answered = 0
        try:
            call = stub.SubmitStream(requests(), metadata=client.metadata)
            async for response in call:
                answered += 1
                if response.HasField("accepted"):
                    tally.latencies.append(clock() - sent[response.index])
                else:
                    code = CODES.get(response.error.code)
                    tally.fail(code.name if code else str(response.error.code))
        except grpc.aio.AioRpcError as exc:
            tally.fail(exc.code().name, n - answered, exc)

    await asyncio.gather(*(stream(n) for n in shares(count, concurrency)))
    return tally


CALLS = 16
# As many streams as ingest lets one caller open by default.
STREAMS = Bounds.max_streams_per_principal


def bench(args: argparse.Namespace, *, clock: Clock = time.perf_counter) -> int:
    """fbq bench --count N --concurrency C [--stream] [--payload-bytes B]."""
    out = Output(json_mode=args.json)
    if args.concurrency is None:
        args.concurrency = STREAMS if args.stream else CALLS
    request = pb.SubmitRequest(
        submission=pb.Submission(
            submitter_id=SUBMITTER, content=payload(args.payload_bytes), metadata={"bench": "1"}
        )
    )

    async def body(client: AsyncClient) -> int:
        run = run_stream if args.stream else run_unary
        start = clock()
        tally = await run(client, request, args.count, args.concurrency, clock)
        elapsed = clock() - start
        report(out, args, tally, elapsed, client.target.address)
        if not tally.latencies and tally.first_error is not None:
            # Nothing got through: say why, as the client would.
            raise CliError(str(from_call(tally.first_error, client.target)))
        return 1 if tally.failures else 0

    return connect.run(args, body)


def summary(args: argparse.Namespace, tally: Tally, elapsed: float) -> dict[str, Any]:
    accepted = len(tally.latencies)
    return {
        "mode": "stream" if args.stream else "unary",
        "count": args.count,
        "concurrency": args.concurrency,
        "payload_bytes": args.payload_bytes,
        "accepted": accepted,
        "failed": dict(sorted(tally.failures.items())),
        "elapsed_s": round(elapsed, 4),
        "throughput_per_s": round(accepted / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": {k: round(v * 1000, 3) for k, v in percentiles(tally.latencies).items()},
    }


def report(
    out: Output, args: argparse.Namespace, tally: Tally, elapsed: float, address: str
) -> None:
    data = summary(args, tally, elapsed)
    if out.json_mode:
        out.data(data)
        return
    how = "SubmitStream" if args.stream else "unary Submit"
    out.line(
        f"{args.count} submissions of {args.payload_bytes} bytes to {address}, {how}, "
        f"concurrency {args.concurrency}"
    )
    failed = sum(tally.failures.values())
    by_code = ", ".join(f"{code} {n}" for code, n in data["failed"].items())
    out.line(f"accepted    {data['accepted']}")
    out.line(f"failed      {failed}" + (f" ({by_code})" if by_code else ""))
    out.line(f"elapsed     {elapsed:.2f} s")
    out.line(f"throughput  {data['throughput_per_s']:,.0f} submissions/s")
    latency = data["latency_ms"]
    out.line(
        "latency     "
        + "  ".join(f"{name} {latency[name]:.1f} ms" for name in ("p50", "p90", "p99", "max"))
    )
