"""fbq submit and fbq status against a real ingest, with a real worker where a flow needs one."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from feedback_queue.job import Status
from feedback_queue.processing import JobContext
from feedback_queue.progress import Progress
from tests.cli.conftest import Fbq, running_worker
from tests.ingest.conftest import Ingest
from worker_service import feedback

ESSAY = "My first essay. It is short."


async def write_feedback(job: JobContext) -> Any:
    return feedback.process(job)


async def test_submit_text_prints_the_id_and_status_shows_it(cli: Fbq, ingest: Ingest) -> None:
    submitted = await cli("submit", ESSAY, "--submitter", "learner-7")
    assert submitted.code == 0
    job_id, status = submitted.out.split()
    assert status == "WAITING"
    job = await ingest.queue.get(job_id)
    assert (job.submission.content, job.submission.submitter_id) == (ESSAY, "learner-7")

    shown = await cli("status", job_id)
    assert shown.code == 0
    assert f"id         {job_id}" in shown.lines
    assert "status     WAITING" in shown.lines
    assert "submitter  learner-7" in shown.lines

    as_json = json.loads((await cli("status", job_id, "--json")).out)
    assert as_json["id"] == job_id
    assert as_json["status"] == "WAITING"
    assert as_json["submission"]["content"] == ESSAY
    assert as_json["enqueued_at"].endswith("Z")
    assert as_json["finished_at"] is None


async def test_submit_a_file_with_every_field(cli: Fbq, ingest: Ingest, tmp_path: Path) -> None:
    essay = tmp_path / "essay.txt"
    essay.write_text("An essay from a file.\n", encoding="utf-8")
    args = ["--file", str(essay), "--kind", "essay", "--instructions", "be kind"]
    args += ["--metadata", "course=bio101", "--metadata", "term=a=b", "--json"]
    result = await cli("submit", *args, "--submitter", "learner-9", "--idempotency-key", "k-1")
    assert result.code == 0
    reply = json.loads(result.out)
    assert (reply["status"], reply["duplicate"]) == ("WAITING", False)
    job = await ingest.queue.get(reply["id"])
    sub = job.submission
    assert sub.content == "An essay from a file.\n"
    assert (sub.kind, sub.instructions, sub.idempotency_key) == ("essay", "be kind", "k-1")
    assert dict(sub.metadata) == {"course": "bio101", "term": "a=b"}

    again = json.loads((await cli("submit", *args, "--submitter", "learner-9",
                                  "--idempotency-key", "k-1")).out)  # fmt: skip
    assert again == {"id": reply["id"], "status": "WAITING", "duplicate": True}


async def test_submit_stdin_and_delay(
    cli: Fbq, ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Text from a pipe."))
    result = await cli("submit", "-", "--delay", "5m")
    assert result.code == 0
    job_id, status = result.out.split()
    assert status == "DELAYED"
    job = await ingest.queue.get(job_id)
    assert job.submission.content == "Text from a pipe."
    assert job.status == Status.DELAYED
    shown = await cli("status", job_id)
    assert any(line.startswith("runs at    ") for line in shown.lines)


async def test_jsonl_counts_accepted_duplicates_and_rejected_lines(
    cli: Fbq, ingest: Ingest, tmp_path: Path
) -> None:
    lines = [
        {"content": "First essay.", "submitter_id": "learner-1"},
        {"content": "Second essay.", "idempotency_key": "dup-1", "kind": "essay"},
        "",
        "{not json",
        {"submitter_id": "learner-2"},  # no content: ingest refuses it
        {"content": "Typo.", "contnet": "x"},
        {"content": "Second essay.", "idempotency_key": "dup-1", "kind": "essay"},
        {"content": "Later.", "delay": "10m", "metadata": {"batch": "7"}},
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    result = await cli("submit", "--jsonl", str(batch), "--submitter", "bulk")
    assert result.code == 1  # some lines were rejected
    assert result.lines[0] == "accepted 3, duplicates 1, rejected 3"
    assert result.lines[1].startswith("line 4: not JSON: ")
    assert result.lines[2] == "line 5: submission.content: required and must not be blank"
    assert result.lines[3].startswith('line 6: Message type "feedback_queue.v1.Submission" has')

    again = await cli("submit", "--jsonl", str(batch), "--submitter", "bulk", "--json")
    report = json.loads(again.out)
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (2, 2, 3)
    assert [e["line"] for e in report["errors"]] == [4, 5, 6]
    assert report["errors"][1]["code"] == "INVALID_ARGUMENT"
    assert report["errors"][1]["field"] == "submission.content"
    by_line = {s["line"]: s for s in report["submissions"]}
    assert by_line[2]["duplicate"]
    assert by_line[7]["duplicate"]
    assert by_line[2]["id"] == by_line[7]["id"]
    assert by_line[8]["status"] == "DELAYED"
    later = await ingest.queue.get(by_line[8]["id"])
    assert dict(later.submission.metadata) == {"batch": "7"}
    first = await ingest.queue.get(by_line[1]["id"])
    assert first.submission.submitter_id == "learner-1"  # the line wins over the option


async def test_wait_follows_to_completed_and_prints_the_feedback(cli: Fbq, ingest: Ingest) -> None:
    async with running_worker(ingest.queue, write_feedback):
        result = await cli("submit", ESSAY, "--wait")
        as_json = await cli("submit", "Another essay here.", "--wait", "--json")
    assert result.code == 0
    assert result.err.startswith("submitted ")
    assert "COMPLETED" in result.err
    feedback_json = json.loads(result.out)
    assert (feedback_json["words"], feedback_json["sentences"]) == (6, 2)
    assert as_json.code == 0
    info = json.loads(as_json.out)
    assert info["status"] == "COMPLETED"
    assert json.loads(info["result"])["words"] == 3


async def test_status_watch_streams_changes_until_final(cli: Fbq, ingest: Ingest) -> None:
    job_id = (await cli("submit", ESSAY)).out.split()[0]
    async with running_worker(ingest.queue, write_feedback):
        watched = await cli("status", job_id, "--watch", "--json")
    assert watched.code == 0
    states = [json.loads(line)["status"] for line in watched.lines]
    assert states[-1] == "COMPLETED"
    human = await cli("status", job_id, "--watch")  # already final: one state, then the result
    assert human.code == 0
    assert human.lines[0].endswith("COMPLETED attempt 1/5")
    assert json.loads(human.lines[1])["words"] == 6


async def test_status_shows_the_running_attempts_progress(cli: Fbq, ingest: Ingest) -> None:
    job_id = (await cli("submit", ESSAY)).out.split()[0]
    await ingest.queue.heartbeat("w1")
    [job] = await ingest.queue.reserve("w1")
    made = Progress(40.0, "summarising", '{"parts": 2}').encode()
    await ingest.queue.report([(job.id, job.token, made)], 0)
    shown = await cli("status", job_id)
    assert shown.code == 0
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in shown.lines if line}
    assert rows["progress"] == "40% summarising"
    assert rows["partial"] == '{"parts": 2}'
    as_json = json.loads((await cli("status", job_id, "--json")).out)
    assert as_json["progress"]["percent"] == 40.0
