"""Feedback Queue under the peers' protocol: the core API and the gRPC ingest service.

    .venv/bin/python -m benchmarks.peers.ours --redis URL enqueue --jobs N [--bulk] [--via grpc]

`--via core` (the default) calls `Queue.enqueue` / `enqueue_many`; `--via grpc` starts a real
`fbq ingest` process and calls `Submit` (one caller) / `SubmitStream` (`--bulk`: `--streams`
streams on one channel, from this process or, with `--client node`, from the grpc-js load
generator in node/grpc/stream.mjs) / `SubmitBatch` (`--bulk --call batch --client node`:
node/grpc/batch.mjs, chunks of `--batch`, `--in-flight` calls at a time).
`--via client` drives the same real `fbq ingest` with `feedback_queue.client.AsyncClient`:
`submit_many` (`--bulk`), or `--callers` concurrent callers each awaiting `submit` one at a
time, which the client's automatic batching coalesces into SubmitBatch calls. Every
submission then carries an idempotency key, as the client always sends one.
Drain and latency run one `python -m worker_service` process with `FBQ_CONCURRENCY` (unset: its
default) and the processor `benchmarks.peers.ours:job`, which does nothing but `mark`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import grpc

from benchmarks.common import wait_ready
from benchmarks.peers.common import (
    QUEUE,
    ROOT,
    Worker,
    drain_run,
    emit,
    flush,
    latency_run,
    mark,
    memory_run_async,
    parser,
    payload,
    produce_paced_async,
    timed_async,
)
from feedback_queue.connection import create_client
from feedback_queue.processing import JobContext
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, Settings
from feedback_queue.up.embedded import free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc

# The serialized Submission is 200 bytes, as the peers' payload string is 200 characters.
_EMPTY = len(pb.Submission(submitter_id="bench-user", content="").SerializeToString())
CONTENT_CHARS = 200 - _EMPTY - 3


def submission(body: str) -> pb.Submission:
    sub = pb.Submission(submitter_id="bench-user", content=body[:CONTENT_CHARS])
    assert len(sub.SerializeToString()) == 200
    return sub


async def job(context: JobContext) -> None:
    """The processor: the same no-op as every peer's job."""
    mark(context.submission.content)


def service_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": url,
        "FBQ_QUEUE": QUEUE,
        "FBQ_LOG_LEVEL": "WARNING",
    }


def worker(url: str, concurrency: int) -> Worker:
    env = {
        **service_env(url),
        "FBQ_PROCESSOR": "benchmarks.peers.ours:job",
        "FBQ_WORKER_HEALTH_PORT": str(free_port()),
    }
    if concurrency:
        env["FBQ_CONCURRENCY"] = str(concurrency)
    return Worker([sys.executable, "-m", "worker_service"], env)


@asynccontextmanager
async def ingest(url: str) -> AsyncGenerator[tuple[str, pb_grpc.SubmissionServiceAsyncStub]]:
    """A real `fbq ingest` process: its address, and a stub on one channel to it."""
    port = free_port()
    fbq = str(Path(sys.executable).parent / "fbq")
    env = {**service_env(url), "FBQ_INGEST_PORT": str(port), "FBQ_INGEST_HOST": "127.0.0.1"}
    # Its output goes to stderr: this process's stdout carries only the one JSON line.
    server = subprocess.Popen([fbq, "ingest"], env=env, cwd=ROOT, stdout=sys.stderr)
    try:
        address = f"127.0.0.1:{port}"
        await asyncio.wait_for(wait_ready(address), 60)
        async with grpc.aio.insecure_channel(address) as channel:
            yield address, pb_grpc.SubmissionServiceStub(channel)
    finally:
        server.terminate()
        server.wait(30)


async def stream(stub: pb_grpc.SubmissionServiceAsyncStub, jobs: int, streams: int) -> None:
    request = pb.SubmitRequest(submission=submission(payload()))

    async def one(count: int) -> int:
        async def requests() -> AsyncIterator[pb.SubmitRequest]:
            for _ in range(count):
                yield request

        accepted = 0
        async for reply in stub.SubmitStream(requests()):
            accepted += reply.WhichOneof("outcome") == "accepted"
        return accepted

    shares = [jobs // streams + (i < jobs % streams) for i in range(streams)]
    accepted = sum(await asyncio.gather(*(one(n) for n in shares)))
    assert accepted == jobs, f"only {accepted} of {jobs} accepted"


# The grpc-js load generators of SubmitStream and SubmitBatch (`npm ci` in node/ installs their
# packages).
NODE_LOAD = Path(__file__).resolve().parent / "node" / "grpc" / "stream.mjs"
NODE_BATCH = NODE_LOAD.with_name("batch.mjs")


def node_stream(address: str, jobs: int, streams: int) -> tuple[float, float]:
    """The same SubmitStream load from NODE_LOAD, which times itself: its jobs/s, and the CPU
    seconds it spent (what the gRPC floor benchmark charges to the client)."""
    return node_load(NODE_LOAD, address, jobs, ["--streams", str(streams)])


def node_batch(address: str, jobs: int, batch: int, in_flight: int) -> tuple[float, float]:
    """The same load as SubmitBatch calls from NODE_BATCH: its jobs/s and CPU seconds."""
    options = ["--batch", str(batch), "--in-flight", str(in_flight)]
    return node_load(NODE_BATCH, address, jobs, options)


def node_load(script: Path, address: str, jobs: int, options: list[str]) -> tuple[float, float]:
    """Run one grpc-js load generator to its end: its jobs/s, and the CPU seconds it spent."""
    argv = ["node", str(script), "--address", address, "--jobs", str(jobs), *options]
    argv += ["--content-chars", str(CONTENT_CHARS)]
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None
    output = client.stdout.read()  # one JSON line; it ends when the client exits
    _, status, usage = os.wait4(client.pid, 0)
    client.returncode = os.waitstatus_to_exitcode(status)
    if client.returncode != 0:
        raise RuntimeError(f"the load generator failed ({client.returncode}): {output}")
    rate = float(json.loads(output.strip().splitlines()[-1])["jobs_per_s"])
    return rate, usage.ru_utime + usage.ru_stime


def client_submission(client_lib: Any, body: str) -> Any:
    """A client Submission of the peers' 200-byte payload (its idempotency key is extra), made
    as a producer would make it (`submission` also checks the size, on every call)."""
    return client_lib.Submission(content=body[:CONTENT_CHARS], submitter_id="bench-user")


async def with_client(address: str, jobs: int, bulk: bool, callers: int) -> None:
    """`submit_many` of every job, or `callers` concurrent callers of `submit`."""
    from feedback_queue import client as client_lib  # noqa: PLC0415  (only this case needs it)

    async with client_lib.AsyncClient(address) as client:
        if bulk:
            items = [client_submission(client_lib, payload()) for _ in range(jobs)]
            results = await client.submit_many(items)
            refused = [r for r in results if isinstance(r, client_lib.SubmitFailed)]
            assert not refused, f"{len(refused)} of {jobs} refused: {refused[0].error}"
            return

        async def caller(count: int) -> None:
            for _ in range(count):
                await client.submit(client_submission(client_lib, payload()))

        shares = [jobs // callers + (i < jobs % callers) for i in range(callers)]
        await asyncio.gather(*(caller(n) for n in shares))


async def unary(stub: pb_grpc.SubmissionServiceAsyncStub, jobs: int) -> None:
    request = pb.SubmitRequest(submission=submission(payload()))
    for _ in range(jobs):
        await stub.Submit(request)


async def enqueue(queue: Queue, jobs: int, bulk: bool) -> None:
    sub = submission(payload())
    if bulk:
        await queue.enqueue_many([(sub, 0.0)] * jobs)
        return
    for _ in range(jobs):
        await queue.enqueue(sub)


async def latency(
    args: argparse.Namespace, submit: Callable[[pb.Submission], Awaitable[object]]
) -> dict[str, float]:
    loop = asyncio.get_running_loop()

    async def send(body: str) -> None:
        await submit(submission(body))

    def produce() -> int:
        paced = produce_paced_async(args.rate, args.seconds, send)
        return asyncio.run_coroutine_threadsafe(paced, loop).result()

    await submit(submission(payload()))  # the warm-up job the worker starts with
    run = worker(args.redis, args.concurrency)
    return await asyncio.to_thread(latency_run, run, produce)


async def measure(args: argparse.Namespace) -> None:
    flush(args.redis)
    client = create_client(Settings.from_env({"REDIS_URL": args.redis}).redis)
    queue = Queue(client, QueueConfig(name=QUEUE))
    try:
        if args.command == "enqueue" and args.via == "client":
            async with ingest(args.redis) as (address, _):
                work = lambda: with_client(address, args.jobs, args.bulk, args.callers)  # noqa: E731
                emit(await timed_async(args.jobs, work))
        elif args.command == "enqueue" and args.via == "grpc":
            async with ingest(args.redis) as (address, stub):
                if args.bulk and args.call == "batch":
                    load = (address, args.jobs, args.batch, args.in_flight)
                    rate, _ = await asyncio.to_thread(node_batch, *load)
                    emit({"jobs_per_s": rate})
                elif args.bulk and args.client == "node":
                    rate, _ = await asyncio.to_thread(node_stream, address, args.jobs, args.streams)
                    emit({"jobs_per_s": rate})
                elif args.bulk:
                    work = lambda: stream(stub, args.jobs, args.streams)  # noqa: E731
                    emit(await timed_async(args.jobs, work))
                else:
                    emit(await timed_async(args.jobs, lambda: unary(stub, args.jobs)))
        elif args.command == "enqueue":
            emit(await timed_async(args.jobs, lambda: enqueue(queue, args.jobs, args.bulk)))
        elif args.command == "drain":
            await enqueue(queue, args.jobs, bulk=True)
            run = worker(args.redis, args.concurrency)
            emit(await asyncio.to_thread(drain_run, run, args.jobs))
        elif args.command == "latency" and args.via == "grpc":
            async with ingest(args.redis) as (_, stub):
                emit(await latency(args, lambda s: stub.Submit(pb.SubmitRequest(submission=s))))
        elif args.command == "latency":
            emit(await latency(args, queue.enqueue))
        elif args.command == "memory":
            emit(await memory_run_async(args.redis, args.jobs, lambda n: enqueue(queue, n, True)))
    finally:
        await client.aclose()


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--via", choices=["core", "grpc", "client"], default="core")
    cli.add_argument("--callers", type=int, default=256, help="--via client: concurrent callers")
    cli.add_argument("--client", choices=["python", "node"], default="python")
    cli.add_argument("--streams", type=int, default=1)
    cli.add_argument("--call", choices=["stream", "batch"], default="stream", help="the bulk call")
    cli.add_argument("--batch", type=int, default=1000, help="SubmitBatch: submissions per call")
    cli.add_argument("--in-flight", type=int, default=1, help="SubmitBatch: calls at a time")
    args = cli.parse_args()
    if args.call == "batch" and args.client != "node":
        cli.error("--call batch is driven by node/grpc/batch.mjs: add --client node")
    if args.command == "versions":
        emit({"feedback-queue": version("feedback-queue"), "redis-py": version("redis")})
    elif args.command == "worker":
        sys.exit("the worker is `python -m worker_service`")
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
