"""Submit, GetSubmission and WatchSubmission over a real gRPC channel."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from feedback_queue.v1 import queue_pb2 as pb
from tests.helpers import submission
from tests.ingest.conftest import Ingest


def request(content: str = "An essay.", **fields: object) -> pb.SubmitRequest:
    return pb.SubmitRequest(submission=submission(content, **fields))


async def test_submit_then_get(ingest: Ingest) -> None:
    reply = await ingest.submissions.Submit(request("hello", kind="essay", metadata={"a": "b"}))
    assert reply.status == pb.WAITING
    assert not reply.duplicate
    assert len(reply.id) == 12
    info = await ingest.submissions.GetSubmission(pb.GetSubmissionRequest(id=reply.id))
    assert info.id == reply.id
    assert info.status == pb.WAITING
    assert info.submission.content == "hello"
    assert dict(info.submission.metadata) == {"a": "b"}
    assert info.max_attempts == 5
    assert info.enqueued_at.seconds > 0
    assert not info.HasField("started_at")
    # OK means Redis has it.
    assert (await ingest.queue.get(reply.id)).submission.content == "hello"


async def test_get_unknown_is_not_found(ingest: Ingest) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.GetSubmission(pb.GetSubmissionRequest(id="nosuchid0000"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nosuchid0000" in (info.value.details() or "")


async def test_delayed_submit(ingest: Ingest) -> None:
    req = request()
    req.delay.FromSeconds(60)
    reply = await ingest.submissions.Submit(req)
    assert reply.status == pb.DELAYED
    info = await ingest.submissions.GetSubmission(pb.GetSubmissionRequest(id=reply.id))
    assert info.run_at.seconds - info.enqueued_at.seconds == 60


async def test_retry_after_a_lost_reply_returns_the_same_id(ingest: Ingest) -> None:
    first = await ingest.submissions.Submit(request("essay", idempotency_key="order-17"))
    # The reply was lost on the way: the client sends the same request again.
    again = await ingest.submissions.Submit(request("essay", idempotency_key="order-17"))
    assert (again.id, again.duplicate, again.status) == (first.id, True, pb.WAITING)
    assert (await ingest.queue.stats()).waiting == 1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(request("other essay", idempotency_key="order-17"))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "idempotency_key" in (info.value.details() or "")


async def test_many_concurrent_submits_each_get_their_own_answer(ingest: Ingest) -> None:
    replies = await asyncio.gather(
        *(ingest.submissions.Submit(request(f"essay {i}")) for i in range(200))
    )
    assert len({r.id for r in replies}) == 200
    jobs = (await ingest.queue.take("w1", 500)).jobs
    assert {j.id: j.submission.content for j in jobs} == {
        r.id: f"essay {i}" for i, r in enumerate(replies)
    }


async def test_watch_follows_to_completed(ingest: Ingest) -> None:
    reply = await ingest.submissions.Submit(request())
    stream = ingest.submissions.WatchSubmission(pb.WatchSubmissionRequest(id=reply.id))
    seen: list[int] = []
    async for info in stream:
        seen.append(info.status)
        # Drive the job along once the watcher has seen each state.
        if info.status == pb.WAITING:
            [job] = (await ingest.queue.take("w1", 1)).jobs
        elif info.status == pb.ACTIVE:
            assert info.attempts == 1
            assert info.worker == "w1"
            await ingest.queue.ack("w1", [(job.id, job.token, '{"score": 3}')])
        elif info.status == pb.COMPLETED:
            assert info.result == '{"score": 3}'
    assert seen == [pb.WAITING, pb.ACTIVE, pb.COMPLETED]


async def test_watch_unknown_is_not_found(ingest: Ingest) -> None:
    stream = ingest.submissions.WatchSubmission(pb.WatchSubmissionRequest(id="nosuchid0000"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream.read()
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
