"""fbq stats, fbq dead list|retry|delete, fbq pause|resume against a real ingest and worker."""

from __future__ import annotations

import json

from feedback_queue.job import Status
from feedback_queue.processing import JobContext, PermanentError
from tests.cli.conftest import Fbq, running_worker
from tests.ingest.conftest import Ingest


async def unusable(job: JobContext) -> str:
    raise PermanentError(f"cannot read {job.submission.content!r}")


async def test_stats_counts_and_json(cli: Fbq) -> None:
    for text in ("One essay.", "Two essays."):
        assert (await cli("submit", text)).code == 0
    stats = json.loads((await cli("stats", "--json")).out)
    assert stats["waiting"] == 2
    assert stats["enqueued_total"] == 2
    assert stats["paused"] is False
    assert set(stats) >= {"active", "delayed", "completed", "failed", "workers", "retried_total"}
    table = await cli("stats")
    assert table.code == 0
    rows = {line.split()[0]: line.split()[-1] for line in table.lines if line.strip()}
    assert (rows["waiting"], rows["enqueued"], rows["state"]) == ("2", "2", "running")


async def test_wait_on_a_failing_submission_then_the_dead_letter_commands(
    cli: Fbq, ingest: Ingest
) -> None:
    async with running_worker(ingest.queue, unusable):
        waited = await cli("submit", "Bad input.", "--wait")
        assert waited.code == 1
        assert waited.out == ""
        job_id = waited.err.split()[1].rstrip(";")
        assert f"fbq: submission {job_id} FAILED after 1 attempt: PermanentError: cannot read" in (
            waited.err
        )
        other = (await cli("submit", "Also bad.", "--wait")).err.split()[1].rstrip(";")

    listed = await cli("dead", "list")
    assert listed.code == 0
    assert listed.lines[0].split() == [
        "id",
        "submitter",
        "attempts",
        "failed",
        "at",
        "last",
        "error",
    ]
    assert {line.split()[0] for line in listed.lines[1:]} == {job_id, other}
    assert "cannot read 'Bad input.'" in listed.out
    assert listed.err.strip() == "2 of 2 failed"

    page = json.loads((await cli("dead", "list", "--limit", "1", "--json")).out)
    assert page["total"] == 2
    assert len(page["submissions"]) == 1
    assert page["submissions"][0]["last_error"].startswith("PermanentError: cannot read")
    rest = await cli("dead", "list", "--limit", "1", "--cursor", page["next_cursor"])
    assert "next page" not in rest.err
    assert rest.err.strip() == "1 of 2 failed"

    retried = await cli("dead", "retry", job_id)
    assert (retried.code, retried.out) == (0, f"retried {job_id}\n")
    assert (await ingest.queue.get(job_id)).status == Status.WAITING
    again = await cli("dead", "retry", job_id)  # no longer FAILED: refused, named
    assert again.code == 1
    assert again.err.startswith("fbq: error: ")
    assert job_id in again.err

    everything = await cli("dead", "retry", "--all")
    assert everything.out == "retried 1 failed submission\n"

    deleted = await cli("dead", "delete", job_id, other)
    assert deleted.lines == [f"deleted {job_id}", f"deleted {other}"]
    gone = await cli("status", job_id)
    assert gone.code == 1
    assert gone.err == f"fbq: error: no submission with id {job_id!r}\n"
    empty = await cli("dead", "list")
    assert empty.out == "no failed submissions\n"


async def test_retry_needs_ids_or_all(cli: Fbq) -> None:
    result = await cli("dead", "retry")
    assert (result.code, result.err) == (
        1,
        "fbq: error: give the ids to retry, or --all (not both)\n",
    )


async def test_pause_and_resume(cli: Fbq) -> None:
    paused = await cli("pause")
    assert paused.code == 0
    assert paused.out.startswith("queue paused")
    assert json.loads((await cli("stats", "--json")).out)["paused"] is True
    resumed = await cli("resume")
    assert resumed.out.startswith("queue running")
    assert json.loads((await cli("stats", "--json")).out)["paused"] is False
