"""The gateway's HTTP tokens have roles (#21): FBQ_ADMIN_TOKEN is an admin, the tokens of
FBQ_CREDENTIALS_FILE are their principals' roles; refusals say what is needed, audit lines name
the principal. A real gateway (uvicorn) in front of a real ingest."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from feedback_queue.audit import token_id
from feedback_queue.credentials import Credentials, Role, add
from feedback_queue.up.embedded import free_port
from tests.gateway.conftest import AUTH, TOKEN, StartStack
from tests.helpers import submission
from tests.ingest.conftest import StartIngest, start_ingest  # noqa: F401  (shared fixture)
from tests.secrets import secret
from tests.security.processes import Service

READS = [
    ("GET", "/api/admin/system/redis-health"),
    ("GET", "/api/admin/queue/stats"),
    ("GET", "/api/admin/submissions?status=waiting"),
    ("GET", "/api/admin/fair-share"),
]
CHANGES = [
    ("POST", "/api/admin/queue/pause", "PauseQueue"),
    ("POST", "/api/admin/queue/resume", "ResumeQueue"),
    ("POST", "/api/admin/submissions/retry-failed", "RetrySubmission"),
]


@pytest.fixture
def tokens(tmp_path: Path) -> tuple[Credentials, dict[Role, str]]:
    path = tmp_path / "credentials"
    made = {role: secret(add(path, f"{role.value}-1", role)) for role in Role}
    return Credentials.load(path), made


async def test_each_role_reads_and_changes_what_it_may(
    start_stack: StartStack,
    tokens: tuple[Credentials, dict[Role, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    credentials, made = tokens
    stack = await start_stack(credentials=credentials)
    assert stack.ingest is not None
    job_id = (await stack.ingest.queue.enqueue(submission())).id
    caplog.set_level(logging.INFO, logger="fbq.audit")
    http = stack.http
    for role, token in made.items():
        auth = {"Authorization": f"Bearer {token}"}
        for method, path in [*READS, ("GET", f"/api/admin/submissions/{job_id}")]:
            reply = await http.request(method, path, headers=auth)
            assert reply.status_code == (403 if role is Role.PRODUCER else 200), (role, path)
        for method, path, rpc in CHANGES:
            reply = await http.request(method, path, headers=auth)
            if role in (Role.OPERATOR, Role.ADMIN):
                assert reply.status_code == 200, (role, path, reply.text)
                continue
            assert reply.status_code == 403, (role, path)
            body = reply.json()
            assert body["reason"] == "ROLE_FORBIDS"
            assert body["detail"].startswith(f"principal {role.value}-1 is a {role.value}")
            if role is Role.VIEWER:
                assert f"{rpc} needs an operator or admin credential" in body["detail"]
    assert not await stack.ingest.queue.is_paused()  # the viewer's and producer's pause: refused
    # FBQ_ADMIN_TOKEN is still an admin; an unknown token is refused as before.
    assert (await http.post("/api/admin/queue/pause", headers=AUTH)).status_code == 200
    wrong = await http.get("/api/admin/queue/stats", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert "reason" not in wrong.json()  # a wrong token, not a role: back to sign-in
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    for role in (Role.PRODUCER, Role.VIEWER):
        assert f"audit who=principal:{role.value}-1 action=PauseQueue target=queue result=403" in (
            lines
        )
    assert "audit who=principal:operator-1 action=PauseQueue target=queue result=200" in lines
    assert f"audit who={token_id(TOKEN)} action=PauseQueue target=queue result=200" in lines
    assert all(token not in line for line in lines for token in made.values())


async def test_a_gateway_process_with_a_credentials_file_alone(
    start_ingest: StartIngest,  # noqa: F811
    tokens: tuple[Credentials, dict[Role, str]],
    tmp_path: Path,
) -> None:
    _, made = tokens
    ingest = await start_ingest()
    port = free_port()
    gateway = Service(
        ["-m", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        {
            "FBQ_ADMIN_TOKEN": "",
            "FBQ_CREDENTIALS_FILE": str(tmp_path / "credentials"),
            "FBQ_INGEST_ADDR": f"127.0.0.1:{ingest.server.port}",
        },
    ).start()
    try:
        await gateway.wait_for("Uvicorn running on")
        viewer = {"Authorization": f"Bearer {made[Role.VIEWER]}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/api/admin/queue/stats", headers=viewer)).status_code == 200
            refused = await http.post("/api/admin/queue/pause", headers=viewer)
        assert (refused.status_code, refused.json()["reason"]) == (403, "ROLE_FORBIDS")
    finally:
        log = await gateway.stop()
    assert "audit who=principal:viewer-1 action=PauseQueue target=queue result=403" in log


async def test_a_malformed_credentials_file_stops_the_gateway_naming_its_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "credentials"
    path.write_text("# principal role credential\nviewer-1 viewer not-a-hash\n")
    gateway = Service(
        ["-m", "gateway", "--host", "127.0.0.1"],
        {"FBQ_ADMIN_TOKEN": "", "FBQ_CREDENTIALS_FILE": str(path)},
    ).start()
    output = await gateway.stop_when_exited()
    assert "fbq gateway: FBQ_CREDENTIALS_FILE, line 2: the credential must be" in output
