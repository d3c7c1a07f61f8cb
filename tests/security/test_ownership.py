"""Each submission belongs to the principal that submitted it (#21, findings 2 and 6), against a
real ingest: a producer reads only its own, its idempotency keys are its own, and its rate is
its own whatever submitter ids it invents."""

from __future__ import annotations

import grpc
import pytest

from feedback_queue.env import Rate
from feedback_queue.v1 import queue_pb2 as pb
from tests.helpers import submission
from tests.ingest.conftest import StartIngest, start_ingest  # noqa: F401  (fixture)
from tests.security.conftest import Team
from tests.security.test_roles import reason


async def test_a_producer_cannot_read_or_watch_another_principals_submission(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
) -> None:
    ingest = await start_ingest(credentials_file=str(team.path))
    bobs = await ingest.submissions.Submit(
        pb.SubmitRequest(submission=submission("bob's private essay")), **team.call("bob")
    )
    # Exactly what an unknown id gets, so ids cannot be probed either.
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await ingest.submissions.GetSubmission(
            pb.GetSubmissionRequest(id="Unknown00000"), **team.call("alice")
        )
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await ingest.submissions.GetSubmission(
            pb.GetSubmissionRequest(id=bobs.id), **team.call("alice")
        )
    assert other.value.code() == unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert other.value.details() == (unknown.value.details() or "").replace("Unknown00000", bobs.id)
    assert reason(other.value) == reason(unknown.value) == "NOT_FOUND"
    watch = ingest.submissions.WatchSubmission(
        pb.WatchSubmissionRequest(id=bobs.id), **team.call("alice")
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await watch.read()
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # Its owner and every other role read it.
    for who in ("bob", "vera", "otto", "ada"):
        info_ = await ingest.submissions.GetSubmission(
            pb.GetSubmissionRequest(id=bobs.id), **team.call(who)
        )
        assert info_.submission.content == "bob's private essay"
        assert info_.principal == "bob"


async def test_idempotency_keys_are_per_principal(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
) -> None:
    # Finding 6: keys were global, so one producer could take another's predictable key first
    # (the victim then got FAILED_PRECONDITION), or probe for keys by submitting them.
    ingest = await start_ingest(credentials_file=str(team.path))

    def keyed(content: str, key: str = "essay-42") -> pb.SubmitRequest:
        return pb.SubmitRequest(submission=submission(content, idempotency_key=key))

    # The squat: bob takes the key alice will use, with other content.
    squatted = await ingest.submissions.Submit(keyed("squatter's text"), **team.call("bob"))
    mine = await ingest.submissions.Submit(keyed("alice's essay"), **team.call("alice"))
    assert not mine.duplicate
    assert mine.id != squatted.id
    # The probe: alice's key and content from bob is a new submission of bob's, not "duplicate
    # of alice's id".
    probe = await ingest.submissions.Submit(
        keyed("alice's essay", "essay-43"), **team.call("alice")
    )
    guess = await ingest.submissions.Submit(keyed("alice's essay", "essay-43"), **team.call("bob"))
    assert not guess.duplicate
    assert guess.id != probe.id
    # Each principal's key still means what it meant: a retry is a duplicate, other content a
    # conflict.
    again = await ingest.submissions.Submit(keyed("alice's essay"), **team.call("alice"))
    assert (again.id, again.duplicate) == (mine.id, True)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(keyed("something else"), **team.call("alice"))
    assert reason(info.value) == "IDEMPOTENCY_KEY_CONFLICT"
    assert (await ingest.queue.get(mine.id)).submission.content == "alice's essay"


async def test_inventing_submitter_ids_does_not_dodge_the_principal_rate(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
) -> None:
    # Finding 6: the per-submitter limit was dodged by a new submitter_id per call.
    ingest = await start_ingest(
        credentials_file=str(team.path),
        submitter_rate=Rate(2, 60.0),
        principal_rate=Rate(5, 60.0),
    )
    batch = pb.SubmitBatchRequest(
        requests=[
            pb.SubmitRequest(submission=submission(f"flood {i}", submitter_id=f"made-up-{i}"))
            for i in range(12)
        ]
    )
    reply = await ingest.submissions.SubmitBatch(batch, **team.call("alice"))
    reasons = [o.error.reason for o in reply.outcomes if o.HasField("error")]
    assert reply.accepted == 5
    assert reasons == ["RATE_LIMITED"] * 7
    refused = next(o.error for o in reply.outcomes if o.HasField("error"))
    assert "FBQ_PRINCIPAL_RATE" in refused.message
    assert refused.retry_after.ToMilliseconds() > 0
    # Unary submits are limited alike, and another principal keeps its own rate.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.submissions.Submit(
            pb.SubmitRequest(submission=submission(submitter_id="yet-another")),
            **team.call("alice"),
        )
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for i in range(5):
        await ingest.submissions.Submit(
            pb.SubmitRequest(submission=submission(f"bob {i}", submitter_id=f"b{i}")),
            **team.call("bob"),
        )
