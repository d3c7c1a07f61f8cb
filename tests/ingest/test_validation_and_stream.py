"""Every validation rule answers INVALID_ARGUMENT naming the field; streams fail items alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from feedback_queue.v1 import queue_pb2 as pb
from tests.helpers import submission
from tests.ingest.conftest import Ingest, StartIngest


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"submitter_id": ""}, "submission.submitter_id"),
        ({"submitter_id": "white space"}, "submission.submitter_id"),
        ({"submitter_id": "s" * 129}, "submission.submitter_id"),
        ({"content": ""}, "submission.content"),
        ({"content": " \t\n"}, "submission.content"),
        ({"content": "x" * 1025}, "submission.content"),
        ({"kind": "poem"}, "submission.kind"),
        ({"instructions": "i" * 16385}, "submission.instructions"),
        ({"metadata": {f"k{i}": "v" for i in range(33)}}, "submission.metadata"),
        ({"metadata": {"bad key": "v"}}, "submission.metadata"),
        ({"metadata": {"k": "v" * 1025}}, "submission.metadata[k]"),
        ({"idempotency_key": "k" * 129}, "submission.idempotency_key"),
    ],
)
async def test_each_rule(start_ingest: StartIngest, fields: dict[str, object], field: str) -> None:
    ingest = await start_ingest(max_content_bytes=1024, kinds=frozenset({"essay"}))
    req = pb.SubmitRequest(submission=submission(**{"content": "fine", **fields}))  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(req)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith(field + ": ")
    assert (await ingest.queue.stats()).enqueued_total == 0


async def test_missing_submission_and_bad_delay(ingest: Ingest) -> None:
    for req, field in [
        (pb.SubmitRequest(), "submission: required"),
        (pb.SubmitRequest(submission=submission(), delay=Duration(seconds=-5)), "delay: "),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ingest.submissions.Submit(req)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (info.value.details() or "").startswith(field)


async def test_oversize_message_is_resource_exhausted_and_server_lives(
    start_ingest: StartIngest,
) -> None:
    # gRPC's own limit is the larger of one submission's and a batch's (FBQ_MAX_BATCH_BYTES).
    ingest = await start_ingest(max_content_bytes=1024, max_batch_bytes=256 * 1024)
    huge = pb.SubmitRequest(submission=submission("x" * (400 * 1024)))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(huge)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Under that limit, a submission too large is the caller's error, naming the field.
    big = pb.SubmitRequest(submission=submission("x" * (200 * 1024)))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(big)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith("submission.content: ")
    reply = await ingest.submissions.Submit(pb.SubmitRequest(submission=submission("small")))
    assert reply.status == pb.WAITING


async def _requests(items: list[pb.SubmitRequest]) -> AsyncIterator[pb.SubmitRequest]:
    for item in items:
        yield item


async def test_stream_answers_each_item_in_order_and_a_bad_one_fails_alone(
    ingest: Ingest,
) -> None:
    items = [pb.SubmitRequest(submission=submission(f"essay {i}")) for i in range(600)]
    items[250] = pb.SubmitRequest(submission=submission("   "))
    items[251] = pb.SubmitRequest()
    items[300] = pb.SubmitRequest(submission=submission("dup", idempotency_key="k"))
    items[301] = pb.SubmitRequest(submission=submission("dup", idempotency_key="k"))
    responses = [r async for r in ingest.submissions.SubmitStream(_requests(items))]
    assert [r.index for r in responses] == list(range(600))
    bad = responses[250]
    assert bad.WhichOneof("outcome") == "error"
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert bad.error.field == "submission.content"
    assert responses[251].error.field == "submission"
    assert responses[301].accepted.duplicate
    assert responses[301].accepted.id == responses[300].accepted.id
    good = [r.accepted.id for r in responses if r.WhichOneof("outcome") == "accepted"]
    assert len(good) == 598
    assert len(set(good)) == 597  # one duplicate
    jobs = (await ingest.queue.take("w1", 1000)).jobs
    assert len(jobs) == 597
    assert jobs[0].submission.content == "essay 0"


async def test_empty_stream(ingest: Ingest) -> None:
    assert [r async for r in ingest.submissions.SubmitStream(_requests([]))] == []
