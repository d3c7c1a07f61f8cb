"""Cancelling over HTTP against the real stack: POST /api/admin/submissions/<id>/cancel and
POST /api/admin/submissions/cancel (a filter, with a dry run), roles, audit, 400s that say what
to fix, the cancelled listing, and the counter in /metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from feedback_queue.audit import token_id
from feedback_queue.credentials import Credentials, Role, add
from feedback_queue.job import Status
from tests.gateway.conftest import AUTH, TOKEN, Stack, StartStack
from tests.helpers import submission
from tests.secrets import secret


async def enqueue(stack: Stack, submitter: str, n: int, delay: float = 0.0) -> list[str]:
    assert stack.ingest is not None
    queue = stack.ingest.queue
    return [
        (await queue.enqueue(submission(f"{submitter} {i}", submitter_id=submitter), delay)).id
        for i in range(n)
    ]


async def test_cancel_by_id_then_by_filter_after_a_dry_run(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fbq.audit")
    [one] = await enqueue(stack, "ann", 1)
    waiting = await enqueue(stack, "bob", 3)
    [later] = await enqueue(stack, "bob", 1, delay=60.0)
    http = stack.http
    reply = await http.post(f"/api/admin/submissions/{one}/cancel", headers=AUTH)
    assert (reply.status_code, reply.json()) == (200, {"status": "cancelled", "already": False})
    again = await http.post(f"/api/admin/submissions/{one}/cancel", headers=AUTH)
    assert again.json() == {"status": "cancelled", "already": True}

    body = {"submitterId": "bob", "statuses": ["waiting"], "dryRun": True}
    dry = await http.post("/api/admin/submissions/cancel", json=body, headers=AUTH)
    assert (dry.status_code, dry.json()) == (200, {"matched": 3, "cancelled": 0, "dryRun": True})
    done = await http.post(
        "/api/admin/submissions/cancel", json={"submitterId": "bob"}, headers=AUTH
    )
    assert done.json() == {"matched": 4, "cancelled": 4, "dryRun": False}
    assert stack.ingest is not None
    for job_id in [one, *waiting, later]:
        assert (await stack.ingest.queue.get(job_id)).status == Status.CANCELLED

    listing = await http.get("/api/admin/submissions?status=cancelled", headers=AUTH)
    assert listing.json()["total"] == 5
    assert {s["status"] for s in listing.json()["submissions"]} == {"cancelled"}
    stats = (await http.get("/api/admin/queue/stats", headers=AUTH)).json()
    assert stats["cancelledTotal"] == 5
    families = {
        f.name: f for f in text_string_to_metric_families((await http.get("/metrics")).text)
    }
    assert families["fbq_submissions_cancelled"].samples[0].value == 5

    who = token_id(TOKEN)
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    assert [line for line in lines if f"who={who}" in line] == [
        f"audit who={who} action=CancelSubmission target={one} result=200",
        f"audit who={who} action=CancelSubmission target={one} result=200",
        f"audit who={who} action=CancelMatching target=filter result=200",
        f"audit who={who} action=CancelMatching target=filter result=200",
    ]


async def test_cancelling_a_finished_one_is_a_409_and_an_unknown_one_a_404(stack: Stack) -> None:
    assert stack.ingest is not None
    [job_id] = await enqueue(stack, "ann", 1)
    [job] = (await stack.ingest.queue.take("w1", 1)).jobs
    await stack.ingest.queue.ack("w1", [(job.id, job.token, "ok")])
    done = await stack.http.post(f"/api/admin/submissions/{job_id}/cancel", headers=AUTH)
    assert done.status_code == 409
    assert "COMPLETED already" in done.json()["detail"]
    unknown = await stack.http.post("/api/admin/submissions/Unknown00000/cancel", headers=AUTH)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "the body must be a JSON object like"),
        (b"{}", "give submitterId or fairnessKey (or both)"),
        (b'{"dryRun": true}', "give submitterId or fairnessKey (or both)"),
        (b'{"submitter": "bob"}', "unknown field 'submitter': give submitterId, fairnessKey"),
        (b'{"submitterId": 7}', "submitterId: a string"),
        (b'{"submitterId": "bob", "statuses": ["active"]}', 'statuses: a list of "waiting"'),
        (b'{"submitterId": "bob", "dryRun": "yes"}', "dryRun: true or false"),
        (b"x" * 5000, "the body is over 4096 bytes"),
        # What only ingest knows comes back through the same map.
        (b'{"fairnessKey": "no spaces"}', "filter.fairness_key: must be 1-128 characters"),
    ],
)
async def test_a_bad_filter_is_a_400_that_says_what_to_fix(
    stack: Stack, body: bytes, detail: str
) -> None:
    [job_id] = await enqueue(stack, "bob", 1)
    reply = await stack.http.post("/api/admin/submissions/cancel", content=body, headers=AUTH)
    assert reply.status_code == 400, reply.text
    assert reply.json()["detail"].startswith(detail), reply.json()["detail"]
    assert stack.ingest is not None
    assert (await stack.ingest.queue.get(job_id)).status == Status.WAITING


async def test_only_operators_and_admins_cancel(start_stack: StartStack, tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    made = {role: secret(add(path, f"{role.value}-1", role)) for role in Role}
    stack = await start_stack(credentials=Credentials.load(path))
    for role, token in made.items():
        [job_id] = await enqueue(stack, "bob", 1)
        auth = {"Authorization": f"Bearer {token}"}
        one = await stack.http.post(f"/api/admin/submissions/{job_id}/cancel", headers=auth)
        many = await stack.http.post(
            "/api/admin/submissions/cancel", json={"submitterId": "nobody"}, headers=auth
        )
        may = role in (Role.OPERATOR, Role.ADMIN)
        assert (one.status_code, many.status_code) == ((200, 200) if may else (403, 403)), role
        assert stack.ingest is not None
        status = (await stack.ingest.queue.get(job_id)).status
        assert status == (Status.CANCELLED if may else Status.WAITING)
