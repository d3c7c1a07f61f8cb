"""SubmitBatch: one outcome per item in request order, rich error details on every refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import cast

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2

from feedback_queue.env import Rate
from feedback_queue.job import Status
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.v1 import queue_pb2 as pb
from tests.helpers import submission
from tests.ingest.conftest import Ingest, StartIngest


def request(content: str = "an essay", **fields: object) -> pb.SubmitRequest:
    return pb.SubmitRequest(submission=submission(content, **fields))


def trailers(exc: grpc.aio.AioRpcError) -> dict[str, str | bytes]:
    pairs = cast(Iterable[tuple[str, str | bytes]], exc.trailing_metadata() or ())
    return dict(pairs)


def details(exc: grpc.aio.AioRpcError) -> dict[str, object]:
    """The google.rpc.Status details of a refused call, by type name."""
    raw = trailers(exc)["grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    status = status_pb2.Status.FromString(raw)
    assert status.code == exc.code().value[0]
    assert status.message == exc.details()
    found: dict[str, object] = {}
    for any_detail in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.RetryInfo,
        ):
            if any_detail.Is(kind.DESCRIPTOR):
                detail = kind()
                any_detail.Unpack(detail)
                found[kind.DESCRIPTOR.name] = detail
    return found


async def test_every_item_gets_its_outcome_in_request_order(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(max_content_bytes=1024, submitter_rate=Rate(2, 60.0), max_waiting=0)
    batch = [
        request("first", idempotency_key="k1"),
        request("", submitter_id="s2"),  # invalid: blank content
        request("first", idempotency_key="k1"),  # the same key and payload: a duplicate
        request("other text", idempotency_key="k1"),  # the same key, another payload
        request("delayed", submitter_id="s3"),
        request("x" * 2000, submitter_id="s4"),  # invalid: over max_content_bytes
        request("second of s1"),  # s1's second within its rate of 2
        request("third of s1"),  # over the rate
    ]
    batch[4].delay.CopyFrom(Duration(seconds=60))
    reply = await ingest.submissions.SubmitBatch(pb.SubmitBatchRequest(requests=batch))

    kinds = [o.WhichOneof("outcome") for o in reply.outcomes]
    assert kinds == [
        "accepted",
        "error",
        "accepted",
        "error",
        "accepted",
        "error",
        "accepted",
        "error",
    ]
    assert (reply.accepted, reply.refused) == (4, 4)
    first, dup, delayed, second = (reply.outcomes[i].accepted for i in (0, 2, 4, 6))
    assert not first.duplicate
    assert dup.duplicate
    assert dup.id == first.id
    assert delayed.status == pb.DELAYED
    assert second.status == pb.WAITING
    blank, conflict, big, rated = (reply.outcomes[i].error for i in (1, 3, 5, 7))
    assert (blank.code, blank.field, blank.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        "submission.content",
        "INVALID_FIELD",
    )
    assert big.field == "submission.content"
    assert "1024" in big.message
    assert (conflict.code, conflict.reason, conflict.field) == (
        grpc.StatusCode.FAILED_PRECONDITION.value[0],
        "IDEMPOTENCY_KEY_CONFLICT",
        "submission.idempotency_key",
    )
    assert (rated.code, rated.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
        "RATE_LIMITED",
    )
    assert rated.retry_after.ToMilliseconds() > 0
    # What was accepted is in Redis, once each; nothing else is.
    stats = await ingest.queue.stats()
    assert (stats.waiting, stats.delayed, stats.enqueued_total) == (2, 1, 3)
    assert (await ingest.queue.get(first.id)).status == Status.WAITING


async def test_back_pressure_refuses_only_the_items_over_the_cap(
    start_ingest: StartIngest,
) -> None:
    ingest = await start_ingest(max_waiting=3)
    batch = [request(f"essay {i}") for i in range(5)]
    reply = await ingest.submissions.SubmitBatch(pb.SubmitBatchRequest(requests=batch))
    assert [o.WhichOneof("outcome") for o in reply.outcomes] == ["accepted"] * 3 + ["error"] * 2
    for outcome in reply.outcomes[3:]:
        assert outcome.error.reason == "QUEUE_FULL"
        assert outcome.error.retry_after.ToMilliseconds() == 1000
    assert (await ingest.queue.stats()).waiting == 3


@pytest.mark.parametrize("count", [0, 4])
async def test_a_batch_out_of_bounds_is_refused_whole(
    start_ingest: StartIngest, count: int
) -> None:
    ingest = await start_ingest(max_batch=3)
    batch = pb.SubmitBatchRequest(requests=[request(f"essay {i}") for i in range(count)])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.SubmitBatch(batch)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "FBQ_MAX_BATCH" in (info.value.details() or "")
    assert "1 to 3" in (info.value.details() or "")
    found = details(info.value)
    info_detail = cast(error_details_pb2.ErrorInfo, found["ErrorInfo"])
    assert (info_detail.reason, info_detail.domain) == ("BATCH_TOO_LARGE", "feedback-queue")
    bad = cast(error_details_pb2.BadRequest, found["BadRequest"])
    assert [v.field for v in bad.field_violations] == ["requests"]
    assert (await ingest.queue.stats()).enqueued_total == 0


async def test_a_batch_fails_unavailable_when_redis_is_gone(
    start_ingest: StartIngest, make_server: Callable[[], EmbeddedRedis]
) -> None:
    own = make_server()
    ingest = await start_ingest(own)
    own.stop()
    batch = pb.SubmitBatchRequest(requests=[request("a"), request("b")])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.SubmitBatch(batch, timeout=30)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    reason = cast(error_details_pb2.ErrorInfo, details(info.value)["ErrorInfo"]).reason
    assert reason == "STORAGE_UNAVAILABLE"


async def test_unary_refusals_carry_error_info_bad_request_and_retry_info(
    start_ingest: StartIngest,
) -> None:
    ingest = await start_ingest(max_waiting=1)
    await ingest.submissions.Submit(request("fills the queue", idempotency_key="key"))

    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await ingest.submissions.Submit(request(" "))
    found = details(invalid.value)
    assert cast(error_details_pb2.ErrorInfo, found["ErrorInfo"]).reason == "INVALID_FIELD"
    violation = cast(error_details_pb2.BadRequest, found["BadRequest"]).field_violations[0]
    assert violation.field == "submission.content"
    assert "RetryInfo" not in found

    with pytest.raises(grpc.aio.AioRpcError) as full:
        await ingest.submissions.Submit(request("no room"))
    assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    found = details(full.value)
    assert cast(error_details_pb2.ErrorInfo, found["ErrorInfo"]).reason == "QUEUE_FULL"
    delay = cast(error_details_pb2.RetryInfo, found["RetryInfo"]).retry_delay
    assert delay.ToMilliseconds() == 1000
    # gRPC's own retry policy reads this one (gRFC A6); ours is kept for older clients.
    assert trailers(full.value)["grpc-retry-pushback-ms"] == "1000"
    assert trailers(full.value)["retry-after-ms"] == "1000"

    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await ingest.submissions.Submit(request("other payload", idempotency_key="key"))
    reason = cast(error_details_pb2.ErrorInfo, details(conflict.value)["ErrorInfo"]).reason
    assert reason == "IDEMPOTENCY_KEY_CONFLICT"

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await ingest.submissions.GetSubmission(pb.GetSubmissionRequest(id="nosuchid0000"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    reason = cast(error_details_pb2.ErrorInfo, details(missing.value)["ErrorInfo"]).reason
    assert reason == "NOT_FOUND"


async def test_a_refused_token_carries_its_reason(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(grpc_token="s3cret-token")
    for metadata, reason in [
        ((), "TOKEN_MISSING"),
        ((("authorization", "Bearer no"),), "TOKEN_INVALID"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ingest.submissions.SubmitBatch(
                pb.SubmitBatchRequest(requests=[request()]), metadata=metadata
            )
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        found = cast(error_details_pb2.ErrorInfo, details(info.value)["ErrorInfo"])
        assert found.reason == reason


async def test_a_batch_may_be_larger_than_one_submission_but_a_stream_request_may_not(
    start_ingest: StartIngest,
) -> None:
    ingest: Ingest = await start_ingest(max_content_bytes=1024, max_batch_bytes=1024 * 1024)
    # 300 submissions of 1000 bytes: over one submission's message limit (1 KiB + 128 KiB).
    batch = pb.SubmitBatchRequest(requests=[request(f"{i:04d}" + "x" * 996) for i in range(300)])
    assert batch.ByteSize() > 1024 + 128 * 1024
    reply = await ingest.submissions.SubmitBatch(batch)
    assert reply.accepted == 300

    async def stream() -> AsyncIterator[pb.SubmitRequest]:
        yield request("small one")
        yield request("x" * (200 * 1024))  # under gRPC's limit now, over a stream request's
        yield request("small two")

    outcomes = [r async for r in ingest.submissions.SubmitStream(stream())]
    assert [o.WhichOneof("outcome") for o in outcomes] == ["accepted", "error", "accepted"]
    assert outcomes[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "over the" in outcomes[1].error.message


async def test_a_wait_longer_than_a_retry_is_worth_asks_grpc_not_to_retry(
    start_ingest: StartIngest,
) -> None:
    """A negative pushback stops gRPC's built-in retries, so the caller gets the details at
    once instead of DEADLINE_EXCEEDED after the service config's timeout."""
    ingest = await start_ingest(submitter_rate=Rate(1, 60.0))
    await ingest.submissions.Submit(request("uses the allowance"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(request("over the rate"))
    wait = int(trailers(info.value)["retry-after-ms"])
    assert wait > 2000
    assert trailers(info.value)["grpc-retry-pushback-ms"] == "-1"
    delay = cast(error_details_pb2.RetryInfo, details(info.value)["RetryInfo"]).retry_delay
    assert delay.ToMilliseconds() == wait
