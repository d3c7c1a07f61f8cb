"""AdminService over a real channel: health, stats, listing, retry, delete, pause, resume."""

from __future__ import annotations

import grpc
import pytest

from feedback_queue.queue import Failure
from feedback_queue.v1 import queue_pb2 as pb
from tests.helpers import submission
from tests.ingest.conftest import Ingest


async def test_redis_health_has_the_seed_fields(ingest: Ingest) -> None:
    await ingest.submissions.Submit(pb.SubmitRequest(submission=submission()))
    health = await ingest.admin.GetRedisHealth(pb.GetRedisHealthRequest())
    # The tests' Redis runs without AOF, which the report calls a risk.
    assert health.status == "degraded"
    assert health.connected
    assert health.version
    assert health.memory_usage.used.endswith("B")
    assert health.memory_usage.total_bytes > health.memory_usage.used_bytes > 0
    usage = health.memory_usage
    assert usage.percent_used == round(100 * usage.used_bytes / usage.total_bytes, 1)
    assert health.queue_stats.waiting == 1
    assert any("AOF is off" in w for w in health.warnings)


async def test_stats_list_retry_delete(ingest: Ingest) -> None:
    q = ingest.queue
    ids = [
        (await ingest.submissions.Submit(pb.SubmitRequest(submission=submission(f"t{i}")))).id
        for i in range(4)
    ]
    jobs = (await q.take("w1", 2)).jobs
    await q.fail("w1", [Failure(jobs[0], "bad", permanent=True)])
    await q.fail("w1", [Failure(jobs[1], "bad too", permanent=True)])
    stats = await ingest.admin.GetQueueStats(pb.GetQueueStatsRequest())
    assert (stats.waiting, stats.failed, stats.enqueued_total) == (2, 2, 4)

    page = await ingest.admin.ListSubmissions(
        pb.ListSubmissionsRequest(status=pb.WAITING, page_size=1)
    )
    assert [s.id for s in page.submissions] == [ids[2]]
    assert page.total == 2
    page2 = await ingest.admin.ListSubmissions(
        pb.ListSubmissionsRequest(status=pb.WAITING, page_size=1, page_token=page.next_page_token)
    )
    assert [s.id for s in page2.submissions] == [ids[3]]
    assert page2.next_page_token == ""
    failed = await ingest.admin.ListSubmissions(pb.ListSubmissionsRequest(status=pb.FAILED))
    assert {s.id for s in failed.submissions} == {ids[0], ids[1]}
    assert all(s.last_error.startswith("bad") for s in failed.submissions)

    one = await ingest.admin.RetrySubmission(pb.RetrySubmissionRequest(id=ids[0]))
    assert one.retried == 1
    rest = await ingest.admin.RetrySubmission(pb.RetrySubmissionRequest(all_failed=True))
    assert rest.retried == 1
    await ingest.admin.DeleteSubmission(pb.DeleteSubmissionRequest(id=ids[3]))
    stats = await ingest.admin.GetQueueStats(pb.GetQueueStatsRequest())
    assert (stats.waiting, stats.failed) == (3, 0)


@pytest.mark.parametrize(
    ("call", "request_", "code", "text"),
    [
        ("ListSubmissions", pb.ListSubmissionsRequest(), "INVALID_ARGUMENT", "status"),
        (
            "ListSubmissions",
            pb.ListSubmissionsRequest(status=pb.WAITING, page_size=501),
            "INVALID_ARGUMENT",
            "page_size",
        ),
        (
            "ListSubmissions",
            pb.ListSubmissionsRequest(status=pb.WAITING, page_token="x"),
            "INVALID_ARGUMENT",
            "page_token",
        ),
        # #21 finding 11: a Unicode digit, and more digits than int() takes, were UNKNOWN.
        *(
            (
                "ListSubmissions",
                pb.ListSubmissionsRequest(status=pb.WAITING, page_token=token),
                "INVALID_ARGUMENT",
                "page_token: not a token from a previous page",
            )
            for token in ("\u00b2", "1\u0663", "9" * 5000, "9" * 16, "-1", " 1")
        ),
        ("RetrySubmission", pb.RetrySubmissionRequest(), "INVALID_ARGUMENT", "id"),
        (
            "RetrySubmission",
            pb.RetrySubmissionRequest(id="abc", all_failed=True),
            "INVALID_ARGUMENT",
            "not both",
        ),
        ("RetrySubmission", pb.RetrySubmissionRequest(id="nosuch"), "NOT_FOUND", "nosuch"),
        ("DeleteSubmission", pb.DeleteSubmissionRequest(id="nosuch"), "NOT_FOUND", "nosuch"),
        ("DeleteSubmission", pb.DeleteSubmissionRequest(id="../x"), "INVALID_ARGUMENT", "id"),
    ],
)
async def test_admin_errors(
    ingest: Ingest, call: str, request_: object, code: str, text: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await getattr(ingest.admin, call)(request_)
    assert info.value.code() == getattr(grpc.StatusCode, code)
    assert text in (info.value.details() or "")


async def test_retry_of_a_waiting_submission_is_failed_precondition(ingest: Ingest) -> None:
    reply = await ingest.submissions.Submit(pb.SubmitRequest(submission=submission()))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.admin.RetrySubmission(pb.RetrySubmissionRequest(id=reply.id))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_pause_and_resume(ingest: Ingest) -> None:
    await ingest.submissions.Submit(pb.SubmitRequest(submission=submission()))
    assert (await ingest.admin.PauseQueue(pb.PauseQueueRequest())).paused
    assert (await ingest.admin.GetQueueStats(pb.GetQueueStatsRequest())).paused
    assert (await ingest.queue.take("w1", 5)).jobs == []
    assert not (await ingest.admin.ResumeQueue(pb.ResumeQueueRequest())).paused
    assert len((await ingest.queue.take("w1", 5)).jobs) == 1
