"""SubmitStream against the floor of grpc.aio: a servicer that does nothing, in the same run.

    .venv/bin/python -m benchmarks.grpc_floor --jobs 40000 --streams 4

Starts its own redis-server (AOF on, appendfsync everysec), the real ingest service
(`fbq ingest`), and a bare grpc.aio server whose SubmitStream answers every request `accepted`
without looking at it (the floor: what any Python gRPC service pays per message, on the same
event loop as ours). Both are driven by the same grpc-js load generator
(benchmarks/peers/node/grpc/stream.mjs; `python3 dev.py bench-peers` installs it), which costs
less CPU per message than Python's grpc client. Prints submissions/s and the CPU seconds per
submission of the server and of the client, and ours as a ratio to the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from benchmarks.common import PAYLOAD_BYTES, wait_ready
from benchmarks.peers.ours import NODE_LOAD, node_stream
from feedback_queue.loop import run_loop
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent


async def submit_stream(
    requests: AsyncIterator[pb.SubmitRequest], context: Any
) -> AsyncIterator[pb.SubmitStreamResponse]:
    """The floor's SubmitStream: every request accepted at once, with a fixed id; no
    validation, no Redis."""
    index = 0
    async for _ in requests:
        accepted = pb.SubmitResponse(id="floor0000000", status=pb.Status.WAITING)
        yield pb.SubmitStreamResponse(index=index, accepted=accepted)
        index += 1


async def serve_floor(port: int) -> None:
    """SubmissionService with SubmitStream alone (the other methods answer UNIMPLEMENTED)."""
    handler = grpc.stream_stream_rpc_method_handler(
        submit_stream,
        request_deserializer=pb.SubmitRequest.FromString,
        response_serializer=pb.SubmitStreamResponse.SerializeToString,
    )
    service = pb.DESCRIPTOR.services_by_name["SubmissionService"].full_name
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(service, {"SubmitStream": handler})]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(address: str, jobs: int, streams: int, server_pid: int) -> dict[str, float]:
    """Run the load generator once; its rate and the CPU both sides spent per submission."""
    before = cpu_seconds(server_pid)
    rate, client_seconds = node_stream(address, jobs, streams)
    after = cpu_seconds(server_pid)
    return {
        "rate": rate,
        "server_us": (after - before) * 1e6 / jobs,
        "client_us": client_seconds * 1e6 / jobs,
    }


async def ready(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), 60)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--jobs", type=int, default=40_000)
    cli.add_argument("--streams", type=int, default=4)
    cli.add_argument("--runs", type=int, default=3, help="alternating runs; medians are shown")
    cli.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)  # the floor's process
    args = cli.parse_args()
    if args.serve_floor:
        run_loop(serve_floor(args.serve_floor))
        return
    if not (NODE_LOAD.parent.parent / "node_modules" / "@grpc" / "grpc-js").is_dir():
        sys.exit("grpc-js is missing: run `python3 dev.py bench-peers` once (it runs npm ci)")
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
        ingest_port, floor_port = free_port(), free_port()
        env = {
            **os.environ,
            "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
            "FBQ_QUEUE": "bench-floor",
            "FBQ_LOG_LEVEL": "WARNING",
            "FBQ_INGEST_PORT": str(ingest_port),
            "FBQ_INGEST_HOST": "127.0.0.1",  # loopback: no credentials needed
        }
        fbq = str(Path(sys.executable).parent / "fbq")
        ingest = subprocess.Popen([fbq, "ingest"], env=env, cwd=ROOT)
        floor = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.grpc_floor", "--serve-floor", str(floor_port)],
            cwd=ROOT,
        )
        try:
            asyncio.run(wait_ready(f"127.0.0.1:{ingest_port}"))
            asyncio.run(ready(f"127.0.0.1:{floor_port}"))
            results: dict[str, list[dict[str, float]]] = {"floor": [], "ours": []}
            for _ in range(args.runs):
                for name, port, process in (
                    ("floor", floor_port, floor),
                    ("ours", ingest_port, ingest),
                ):
                    address = f"127.0.0.1:{port}"
                    results[name].append(drive(address, args.jobs, args.streams, process.pid))
                    time.sleep(0.5)  # let the last replies' acks settle before the next case
        finally:
            for process in (ingest, floor):
                process.terminate()
                process.wait(30)
    report(results, args)


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    def median(name: str, key: str) -> float:
        values = sorted(r[key] for r in results[name])
        return values[len(values) // 2]

    print(
        f"SubmitStream, {args.jobs} submissions of {PAYLOAD_BYTES} bytes, {args.streams} "
        f"streams from grpc-js, {args.runs} runs, medians\n"
    )
    print(f"{'server':44} {'subs/s':>8} {'server CPU/sub':>15} {'client CPU/sub':>15}")
    labels = {
        "floor": "grpc.aio servicer that does nothing (floor)",
        "ours": "fbq ingest (validate, enqueue in Redis)",
    }
    for name, label in labels.items():
        print(
            f"{label:44} {median(name, 'rate'):8,.0f} {median(name, 'server_us'):12.0f} us"
            f" {median(name, 'client_us'):12.0f} us"
        )
    ratio = median("ours", "rate") / median("floor", "rate")
    print(f"\nours = {ratio:.2f}x the floor's rate")


if __name__ == "__main__":
    main()
