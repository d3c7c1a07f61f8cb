"""No caller can forge a log or audit line, nor send escape sequences to the reader's terminal
(#21 finding 9): a real gateway and a real ingest, attacked through paths and ids."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import grpc
import httpx
import pytest

from feedback_queue.audit import token_id
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.secrets import secret
from tests.security.processes import Service

ADMIN = secret("forged-lines-admin-token-4e1d")
GRPC = secret("forged-lines-grpc-token-a07c")
# A whole audit line of a credential that does not exist, after a line break...
FORGED = (
    "x\n2026-12-01 20:00:00,000 INFO fbq.audit: audit who=tok:00000000 action=PauseQueue "
    "target=queue result=OK"
)
# ...a field that claims success on the real line, and a terminal's clear-screen.
FIELD = "x result=OK"
CLEAR = "\x1b[2J\x1b[H"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
AUDIT_RECORD = re.compile(rf"^{STAMP} \w+ fbq\.audit: ")
AUDIT_LINE = re.compile(
    rf'^{STAMP} INFO fbq\.audit: audit who=(\S+) action=(\w+) target=("(?:[^"\\]|\\.)*"|\S+) '
    r"result=(\w+)$"
)


@pytest.fixture
async def services(redis_server: EmbeddedRedis, queue_name: str) -> AsyncIterator[list[Service]]:
    ingest_port, gateway_port = free_port(), free_port()
    ingest = Service(
        ["-m", "ingest_service"],
        {
            "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
            "FBQ_QUEUE": queue_name,
            "FBQ_INGEST_HOST": "127.0.0.1",
            "FBQ_INGEST_PORT": str(ingest_port),
            "FBQ_GRPC_TOKEN": GRPC,
            "FBQ_LOG_LEVEL": "INFO",
        },
    ).start()
    gateway = Service(
        ["-m", "gateway", "--host", "127.0.0.1", "--port", str(gateway_port)],
        {
            "FBQ_ADMIN_TOKEN": ADMIN,
            "FBQ_GRPC_TOKEN": GRPC,
            "FBQ_INGEST_ADDR": f"127.0.0.1:{ingest_port}",
            "FBQ_LOG_LEVEL": "INFO",
        },
    ).start()
    try:
        await ingest.wait_for("ingest serving queue")
        await gateway.wait_for("Uvicorn running on")
        yield [ingest, gateway]
    finally:
        for service in (gateway, ingest):
            await service.stop()


def audit_lines(log: str) -> list[tuple[str, ...]]:
    """Every line of the audit logger, parsed: one that does not parse fails the test."""
    found = []
    for line in log.splitlines():
        if AUDIT_RECORD.match(line):
            match = AUDIT_LINE.match(line)
            assert match, f"a malformed or forged audit line: {line!r}"
            found.append(match.groups())
    return found


async def test_paths_and_ids_cannot_forge_lines_or_reach_the_terminal(
    services: list[Service],
) -> None:
    ingest, gateway = services
    port = gateway.argv[-1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as http:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        for target in (FORGED, FIELD, CLEAR):
            path = "/api/admin/submissions/" + quote(target, safe="")
            assert (await http.delete(path, headers=admin)).status_code == 400
        # A wrong token is logged as a refusal, with the path it asked for.
        wrong = {"Authorization": "Bearer not-the-token"}
        path = "/api/admin/submissions/" + quote(CLEAR + FORGED, safe="")
        assert (await http.get(path, headers=wrong)).status_code == 403
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest.env['FBQ_INGEST_PORT']}") as channel:
        stub = pb_grpc.AdminServiceStub(channel)
        for target in (FORGED, FIELD, CLEAR):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.RetrySubmission(
                    pb.RetrySubmissionRequest(id=target),
                    metadata=(("authorization", f"Bearer {GRPC}"),),
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    ingest_log, gateway_log = await ingest.stop(), await gateway.stop()
    for log in (ingest_log, gateway_log):
        assert "\x1b" not in log
    # One audit line per call, each of the caller's own credential, none claiming success.
    via_gateway = [(token_id(ADMIN), "DeleteSubmission", "400")] * 3
    assert [(w, a, r) for w, a, _, r in audit_lines(gateway_log)] == via_gateway
    in_ingest = audit_lines(ingest_log)
    # Ingest names the caller by its token id, or (with identities, #21) as principal:admin.
    assert {w for w, _, _, _ in in_ingest} <= {token_id(GRPC), "principal:admin"}
    assert [(a, r) for _, a, _, r in in_ingest] == [
        *[("DeleteSubmission", "INVALID_ARGUMENT")] * 3,
        *[("RetrySubmission", "INVALID_ARGUMENT")] * 3,
    ]
    assert "refused: wrong token" in gateway_log
    assert "\\x1b[2J" in gateway_log  # written as an escape, for the reader to see
