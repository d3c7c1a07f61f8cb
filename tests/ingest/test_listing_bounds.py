"""Listing pages stay small whatever the records hold (issue #21, finding 4): a page of large
submissions used to exceed gRPC's message limit (RESOURCE_EXHAUSTED; the gateway's 429)."""

from __future__ import annotations

from feedback_queue.job import PREVIEW_CHARS
from feedback_queue.v1 import queue_pb2 as pb
from tests.helpers import submission
from tests.ingest.conftest import StartIngest

ESSAY = 250_000


async def test_a_page_of_large_delayed_submissions_is_abridged_and_cut_by_bytes(
    start_ingest: StartIngest,
) -> None:
    ingest = await start_ingest()
    made = await ingest.queue.enqueue_many(
        [(submission(f"{i:03d}" + "x" * ESSAY, instructions="i" * 5000), 3600.0) for i in range(20)]
    )
    ids = [r.id for r in made if not isinstance(r, Exception)]
    assert len(ids) == 20
    # 20 x 250 KB would be a 5 MB page, over gRPC's 4 MiB message limit: before, the call failed.
    first = await ingest.admin.ListSubmissions(pb.ListSubmissionsRequest(status=pb.DELAYED))
    assert first.total == 20
    # At most 4 MiB of records read per page: the page stops early and goes on.
    assert 1 <= len(first.submissions) < 20
    assert first.next_page_token
    rest = await ingest.admin.ListSubmissions(
        pb.ListSubmissionsRequest(status=pb.DELAYED, page_token=first.next_page_token)
    )
    listed = [*first.submissions, *rest.submissions]
    assert not rest.next_page_token
    assert sorted(s.id for s in listed) == sorted(ids)
    for info in listed:
        assert info.abridged
        assert len(info.submission.content) == PREVIEW_CHARS
        assert len(info.submission.instructions) == PREVIEW_CHARS
        assert info.result == ""
        assert info.submission.submitter_id == "learner-1"
    assert first.ByteSize() < 64 * 1024
    # One submission is read whole.
    whole = await ingest.submissions.GetSubmission(pb.GetSubmissionRequest(id=ids[0]))
    assert not whole.abridged
    assert len(whole.submission.content) == ESSAY + 3
