"""Bounded resources at ingest (issue #21, findings 3 and 5), in the attacks' shapes against a
real `python -m ingest_service` process: its memory read from /proc, its log counted, its
readiness watched."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feedback_queue.settings import Bounds
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.helpers import submission
from tests.ingest.real import (
    IngestProcess,
    ingest_process,
    reason,
    reason_in,
    reply,
    submit_stream,
    watch_call,
)

# The review's request: as large as a stream keeps (content + 128 KiB), refused by validation
# once read (content over FBQ_MAX_CONTENT_BYTES), so nothing reaches Redis.
BIG = pb.SubmitRequest(
    submission=submission("x" * (300 * 1024), instructions="y" * (76 * 1024), submitter_id="a")
)


async def flood_stream(channel: grpc.aio.Channel, requests: int) -> int:
    """Write `requests` BIG requests without reading a reply, until a write blocks 3 s: what
    the server has read then is what it holds (or has answered). Returns the writes done."""
    call = submit_stream(channel)
    written = 0
    try:
        for _ in range(requests):
            await asyncio.wait_for(call.write(BIG), 3.0)
            written += 1
    except TimeoutError:
        pass
    await asyncio.sleep(1.0)  # let the server read whatever it will read
    call.cancel()
    return written


async def test_submit_streams_that_read_no_replies_keep_ingest_memory_bounded(
    redis_server: EmbeddedRedis, queue_name: str, tmp_path: Path
) -> None:
    """Finding 3: two streams of 1,024 requests of ~376 KiB each, replies never read. The old
    read-ahead of 1,024 requests per stream took RSS from ~51 to ~780 MiB; now each stream holds
    FBQ_STREAM_READ_AHEAD_BYTES (1 MiB) ahead of its writes, and gRPC flow control slows the
    client down."""
    async with ingest_process(redis_server, queue_name, tmp_path) as ingest:
        before = ingest.memory_mib()
        async with grpc.aio.insecure_channel(ingest.address) as channel:
            written = await asyncio.gather(flood_stream(channel, 1024), flood_stream(channel, 1024))
        peak = ingest.memory_mib("VmHWM")
    print(f"RSS before {before:.0f} MiB, peak {peak:.0f} MiB, writes {written}")
    assert peak - before < 120, f"ingest grew {peak - before:.0f} MiB (writes {written})"


async def test_streams_over_the_cap_are_refused_at_once_with_a_stable_reason(
    redis_server: EmbeddedRedis, queue_name: str, tmp_path: Path
) -> None:
    env = {"FBQ_MAX_STREAMS": "3", "FBQ_MAX_STREAMS_PER_PRINCIPAL": "2"}
    async with (
        ingest_process(redis_server, queue_name, tmp_path, **env) as ingest,
        grpc.aio.insecure_channel(ingest.address) as channel,
    ):
        open_calls = [submit_stream(channel) for _ in range(2)]
        for call in open_calls:  # each is counted once its first reply came back
            await call.write(pb.SubmitRequest(submission=submission("hello")))
            assert (await reply(call)).HasField("accepted")
        third = submit_stream(channel)
        await third.done_writing()
        refused = await third.code()
        for call in open_calls:
            await call.done_writing()
            assert await call.code() == grpc.StatusCode.OK
        # The slots came back: a new stream is served.
        again = submit_stream(channel)
        await again.write(pb.SubmitRequest(submission=submission("again")))
        assert (await reply(again)).HasField("accepted")
        await again.done_writing()
        assert await again.code() == grpc.StatusCode.OK
    assert refused == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Anonymous callers (no credentials) are one principal: its cap of 2 is reached first.
    assert "FBQ_MAX_STREAMS_PER_PRINCIPAL" in (await third.details() or "")
    assert reason_in(await third.trailing_metadata()) == "TOO_MANY_STREAMS"


async def test_unary_calls_over_the_cap_are_too_many_calls(
    redis_server: EmbeddedRedis, queue_name: str, tmp_path: Path
) -> None:
    """With FBQ_MAX_CALLS=1, a call made while another runs is refused; health still answers."""
    env = {"FBQ_MAX_CALLS": "1", "FBQ_REDIS_MAX_CONNECTIONS": "2"}
    async with (
        ingest_process(redis_server, queue_name, tmp_path, **env) as ingest,
        grpc.aio.insecure_channel(ingest.address) as channel,
    ):
        stub = pb_grpc.SubmissionServiceStub(channel)
        batch = pb.SubmitBatchRequest(
            requests=[pb.SubmitRequest(submission=submission(f"n{i}")) for i in range(1000)]
        )
        outcomes = await asyncio.gather(
            *(stub.SubmitBatch(batch) for _ in range(8)), return_exceptions=True
        )
        health = health_pb2_grpc.HealthStub(channel)
        ready = await health.Check(health_pb2.HealthCheckRequest(service="readiness"))
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert refused, "8 batches at once, one call allowed: some must be refused"
    assert {(e.code(), reason(e)) for e in refused} == {
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_CALLS")
    }
    assert any(isinstance(o, pb.SubmitBatchResponse) for o in outcomes)
    assert ready.status == health_pb2.HealthCheckResponse.SERVING


async def test_watch_flood_neither_drains_the_redis_pool_nor_flaps_readiness_nor_floods_the_log(
    redis_server: EmbeddedRedis, queue_name: str, tmp_path: Path
) -> None:
    """Finding 5: 1,500 WatchSubmission streams polling every 10 ms. Before, they took every
    connection of redis-py's default pool (100, failing at once when full): watches and the
    readiness check failed UNAVAILABLE, readiness flapped, and each failure was a log line. Now
    watches over FBQ_MAX_WATCHES_PER_PRINCIPAL are refused TOO_MANY_WATCHES, logged at most
    once per 10 s, and the pool (FBQ_REDIS_MAX_CONNECTIONS, here 8) waits instead of failing."""
    env = {"FBQ_WATCH_INTERVAL": "10ms", "FBQ_REDIS_MAX_CONNECTIONS": "8"}
    async with ingest_process(redis_server, queue_name, tmp_path, **env) as ingest:
        async with grpc.aio.insecure_channel(ingest.address) as channel:
            stub = pb_grpc.SubmissionServiceStub(channel)
            target = await stub.Submit(pb.SubmitRequest(submission=submission("watched")))
            statuses: list[int] = []
            readiness = asyncio.create_task(watch_readiness(ingest, statuses))
            codes: dict[str, int] = {}
            settled = asyncio.Event()

            def count(key: str) -> None:
                codes[key] = codes.get(key, 0) + 1
                if sum(codes.values()) == WATCHES:
                    settled.set()

            open_now = [0]

            async def watch() -> None:
                call = watch_call(channel, target.id)
                try:
                    await call.read()  # admitted: its first state came back
                except grpc.aio.AioRpcError as exc:
                    count(f"{exc.code().name} {reason(exc)}".strip())
                    return
                open_now[0] += 1
                count("watching")
                with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
                    await call.read()  # the submission never changes: open until cancelled
                open_now[0] -= 1

            watches = [asyncio.create_task(watch()) for _ in range(WATCHES)]
            async with asyncio.timeout(40):
                await settled.wait()
            await asyncio.sleep(2.0)  # the admitted ones keep polling, every 10 ms
            watching = open_now[0]
            for task in (*watches, readiness):
                task.cancel()
            await asyncio.gather(*watches, readiness, return_exceptions=True)
        lines = ingest.output().splitlines()
    print(codes, statuses, len(lines))
    # FBQ_MAX_WATCHES_PER_PRINCIPAL (64) open, the rest refused. gRPC answers a few percent of
    # calls CANCELLED when hundreds of streams end at once (b21 did too: 61 of 1,500); a slot
    # they held is taken by a later call.
    cap = Bounds().max_watches_per_principal
    assert cap * 3 // 4 <= watching <= cap
    assert set(codes) <= {"watching", "RESOURCE_EXHAUSTED TOO_MANY_WATCHES", "CANCELLED"}
    assert codes["RESOURCE_EXHAUSTED TOO_MANY_WATCHES"] >= WATCHES - 2 * cap
    assert statuses
    assert set(statuses) == {health_pb2.HealthCheckResponse.SERVING}
    refusals = [line for line in lines if "TOO_MANY_WATCHES" in line]
    assert 1 <= len(refusals) <= 2, refusals
    assert len(lines) < 20, "\n".join(lines[-20:])


WATCHES = 1500


async def watch_readiness(ingest: IngestProcess, statuses: list[int]) -> None:
    """Every readiness status ingest reports (health Watch), over its own connection."""
    async with grpc.aio.insecure_channel(
        ingest.address, options=[("grpc.use_local_subchannel_pool", 1)]
    ) as channel:
        request = health_pb2.HealthCheckRequest(service="readiness")
        async for reply in health_pb2_grpc.HealthStub(channel).Watch(request):
            statuses.append(reply.status)
