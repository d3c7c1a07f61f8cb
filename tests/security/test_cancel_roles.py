"""CancelSubmission over a real channel, as each role: a producer cancels its own submissions by
id and nobody else's (another's is NOT_FOUND, as an unknown id); only operators and admins cancel
by filter; bad requests say what to fix; every cancel is audited with who made it."""

from __future__ import annotations

import logging

import grpc
import pytest

from feedback_queue.v1 import queue_pb2 as pb
from tests.helpers import submission
from tests.ingest.conftest import StartIngest, start_ingest  # noqa: F401  (fixture)
from tests.security.conftest import Team
from tests.security.test_roles import reason


async def test_a_producer_cancels_its_own_by_id_and_only_operators_by_filter(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingest = await start_ingest(credentials_file=str(team.path))
    submit = ingest.submissions.Submit
    bobs = [
        (await submit(pb.SubmitRequest(submission=submission(f"b{i}")), **team.call("bob"))).id
        for i in range(3)
    ]
    cancel = ingest.submissions.CancelSubmission
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await cancel(pb.CancelSubmissionRequest(id=bobs[0]), **team.call("alice"))
    assert other.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as viewer:
        await cancel(pb.CancelSubmissionRequest(id=bobs[0]), **team.call("vera"))
    assert viewer.value.code() == grpc.StatusCode.PERMISSION_DENIED

    caplog.set_level(logging.INFO)
    reply = await cancel(pb.CancelSubmissionRequest(id=bobs[0]), **team.call("bob"))
    assert (reply.status, reply.already) == (pb.CANCELLED, False)
    again = await cancel(pb.CancelSubmissionRequest(id=bobs[0]), **team.call("bob"))
    assert (again.status, again.already) == (pb.CANCELLED, True)
    info = await ingest.submissions.GetSubmission(
        pb.GetSubmissionRequest(id=bobs[0]), **team.call("bob")
    )
    assert (info.status, info.last_error) == (pb.CANCELLED, "cancelled by bob")
    assert info.HasField("finished_at")

    where = pb.CancelFilter(submitter_id="learner-1")
    with pytest.raises(grpc.aio.AioRpcError) as producer:
        await cancel(pb.CancelSubmissionRequest(filter=where), **team.call("bob"))
    assert producer.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason(producer.value) == "ROLE_FORBIDS"
    counted = await cancel(
        pb.CancelSubmissionRequest(filter=where, dry_run=True), **team.call("otto")
    )
    assert (counted.matched, counted.cancelled) == (2, 0)
    done = await cancel(pb.CancelSubmissionRequest(filter=where), **team.call("otto"))
    assert (done.matched, done.cancelled) == (2, 2)
    stats = await ingest.admin.GetQueueStats(pb.GetQueueStatsRequest(), **team.call("ada"))
    assert (stats.waiting, stats.cancelled_total) == (0, 3)
    audit = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    assert any("bob" in m and "CancelSubmission" in m and bobs[0] in m for m in audit), audit
    assert any("otto" in m and "filter:submitter=learner-1 (dry run)" in m for m in audit), audit


async def test_bad_cancel_requests_say_what_to_fix(
    start_ingest: StartIngest,  # noqa: F811
) -> None:
    ingest = await start_ingest()
    cancel = ingest.submissions.CancelSubmission
    done = (await ingest.submissions.Submit(pb.SubmitRequest(submission=submission()))).id
    [job] = (await ingest.queue.take("w1", 1)).jobs
    await ingest.queue.ack("w1", [(job.id, job.token, "ok")])
    cases = [
        (
            pb.CancelSubmissionRequest(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "either an id or a filter",
        ),
        (
            pb.CancelSubmissionRequest(id=done, filter=pb.CancelFilter(submitter_id="x")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "either an id or a filter",
        ),
        (
            pb.CancelSubmissionRequest(id=done, dry_run=True),
            grpc.StatusCode.INVALID_ARGUMENT,
            "dry_run",
        ),
        (
            pb.CancelSubmissionRequest(filter=pb.CancelFilter()),
            grpc.StatusCode.INVALID_ARGUMENT,
            "submitter_id or a fairness_key",
        ),
        (
            pb.CancelSubmissionRequest(
                filter=pb.CancelFilter(submitter_id="x", statuses=[pb.ACTIVE])
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "filter.statuses",
        ),
        (
            pb.CancelSubmissionRequest(filter=pb.CancelFilter(fairness_key="bad key!")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "filter.fairness_key",
        ),
        (pb.CancelSubmissionRequest(id=done), grpc.StatusCode.FAILED_PRECONDITION, "COMPLETED"),
        (pb.CancelSubmissionRequest(id="Unknown00000"), grpc.StatusCode.NOT_FOUND, "Unknown00000"),
    ]
    for request, code, says in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await cancel(request)
        assert refused.value.code() == code, request
        assert says in (refused.value.details() or ""), (request, refused.value.details())
    assert (await ingest.queue.get(done)).record.result == "ok"
