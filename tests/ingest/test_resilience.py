"""Back-pressure, Redis trouble, health transitions and auth, over real channels."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import grpc
import pytest
from grpc_health.v1 import health_pb2

from feedback_queue.settings import Rate, RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb
from tests.helpers import submission
from tests.ingest.conftest import StartIngest
from tests.secrets import secret

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def request(content: str = "essay", **fields: object) -> pb.SubmitRequest:
    return pb.SubmitRequest(submission=submission(content, **fields))


def trailer(error: grpc.aio.AioRpcError, key: str) -> str | None:
    pairs = cast(Iterable[tuple[str, str]], error.trailing_metadata() or ())
    return next((v for k, v in pairs if k == key), None)


async def test_queue_depth_cap(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(max_waiting=2)
    await ingest.submissions.Submit(request("a"))
    await ingest.submissions.Submit(request("b"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(request("c"))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "FBQ_MAX_WAITING" in (info.value.details() or "")
    assert trailer(info.value, "retry-after-ms") == "1000"
    assert (await ingest.queue.stats()).waiting == 2


async def test_submitter_rate(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(submitter_rate=Rate(2, 60.0))
    await ingest.submissions.Submit(request("a", submitter_id="flood"))
    await ingest.submissions.Submit(request("b", submitter_id="flood"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(request("c", submitter_id="flood"))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    wait = int(trailer(info.value, "retry-after-ms") or 0)
    assert 29_000 < wait <= 30_000
    await ingest.submissions.Submit(request("d", submitter_id="calm"))


async def test_redis_unreachable_is_unavailable_without_internals(
    start_ingest: StartIngest,
) -> None:
    dead = RedisSettings(host="127.0.0.1", port=free_port(), connect_timeout=1)
    ingest = await start_ingest(redis=dead)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(request())
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    details = info.value.details() or ""
    assert "idempotency_key" in details
    assert str(dead.port) not in details
    assert "127.0.0.1" not in details


async def test_fair_share_cancel_and_timing_calls_on_a_dead_redis_are_unavailable(
    start_ingest: StartIngest,
) -> None:
    dead = RedisSettings(host="127.0.0.1", port=free_port(), connect_timeout=1)
    ingest = await start_ingest(redis=dead)
    where = pb.CancelFilter(submitter_id="learner-1")
    for call in (
        lambda: ingest.admin.GetFairShare(pb.GetFairShareRequest()),
        lambda: ingest.admin.SetKeyQuota(pb.SetKeyQuotaRequest(key="k", weight=2)),
        lambda: ingest.admin.GetTimings(pb.GetTimingsRequest()),
        lambda: ingest.submissions.CancelSubmission(pb.CancelSubmissionRequest(id="Abc123def456")),
        lambda: ingest.submissions.CancelSubmission(
            pb.CancelSubmissionRequest(filter=where, dry_run=True)
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert str(dead.port) not in (info.value.details() or "")


async def test_redis_out_of_memory_is_resource_exhausted(
    start_ingest: StartIngest, make_server: type[EmbeddedRedis]
) -> None:
    server = make_server(  # type: ignore[call-arg]
        extra_args=("--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
    )
    ingest = await start_ingest(server)
    codes = set()
    for i in range(2000):
        try:
            await ingest.submissions.Submit(request("x" * 4000 + str(i)))
        except grpc.aio.AioRpcError as exc:
            codes.add(exc.code())
            break
    assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED}


async def test_health_follows_redis_down_and_up(
    start_ingest: StartIngest, make_server: type[EmbeddedRedis]
) -> None:
    server = make_server()  # type: ignore[call-arg]
    ingest = await start_ingest(server)
    watch = ingest.health.Watch(health_pb2.HealthCheckRequest(service="readiness"))
    assert (await watch.read()).status == SERVING
    server.stop()
    assert (await watch.read()).status == NOT_SERVING
    for name in ("", "feedback_queue.v1.SubmissionService", "feedback_queue.v1.AdminService"):
        reply = await ingest.health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == NOT_SERVING
    live = await ingest.health.Check(health_pb2.HealthCheckRequest(service="liveness"))
    assert live.status == SERVING
    server.restart()
    assert (await watch.read()).status == SERVING
    watch.cancel()
    assert (await ingest.submissions.Submit(request())).status == pb.WAITING


async def test_auth_on(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(grpc_token=secret("s3cret-token"))
    for metadata in [
        (),
        (("authorization", "Bearer wrong"),),
        (("authorization", "s3cret-token"),),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ingest.submissions.Submit(request(), metadata=metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "FBQ_GRPC_TOKEN" in (info.value.details() or "")
        assert "s3cret-token" not in (info.value.details() or "")
    stream = ingest.submissions.WatchSubmission(pb.WatchSubmissionRequest(id="abc"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream.read()
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.admin.PauseQueue(pb.PauseQueueRequest())
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert not await ingest.queue.is_paused()
    good = (("authorization", "Bearer s3cret-token"),)
    assert (await ingest.submissions.Submit(request(), metadata=good)).status == pb.WAITING
    # Probes need no token.
    reply = await ingest.health.Check(health_pb2.HealthCheckRequest(service="readiness"))
    assert reply.status == SERVING


async def test_auth_off_needs_nothing(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(grpc_token=None)
    assert (await ingest.submissions.Submit(request())).status == pb.WAITING
