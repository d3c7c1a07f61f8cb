"""The gateway over HTTPS, calling ingest over mutual TLS; a warning when it serves plain HTTP
beyond loopback; its admin actions audited by token id."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from feedback_queue.audit import token_id
from feedback_queue.up.embedded import free_port
from tests.gateway.conftest import AUTH, TOKEN, Stack, stack, start_stack  # noqa: F401
from tests.ingest.conftest import StartIngest, start_ingest  # noqa: F401  (shared fixture)
from tests.secrets import secret, seen
from tests.security.certs import Material
from tests.security.test_grpc_tls import serving

ROOT = Path(__file__).resolve().parents[2]
ADMIN = secret("https-admin-token-61be")


def gateway_process(**env: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FBQ_", "REDIS_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", *env.pop("ARGS", "").split()],
        env={**environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_https_gateway_to_an_ingest_behind_mutual_tls(
    start_ingest: StartIngest,  # noqa: F811
    material: Material,
) -> None:
    ingest = await start_ingest(tls=serving(material, mutual=True))
    port = free_port()
    process = gateway_process(
        ARGS="--host 127.0.0.1",
        FBQ_ADMIN_TOKEN=ADMIN,
        FBQ_GATEWAY_PORT=str(port),
        FBQ_INGEST_ADDR=f"127.0.0.1:{ingest.server.port}",
        FBQ_TLS_CERT=str(material.server.cert),
        FBQ_TLS_KEY=str(material.server.key),
        FBQ_TLS_CA=str(material.ca.path),
        FBQ_TLS_CLIENT_CERT=str(material.client.cert),
        FBQ_TLS_CLIENT_KEY=str(material.client.key),
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{port}",
            verify=ssl.create_default_context(cafile=str(material.ca.path)),
        ) as https:
            for _ in range(400):  # until uvicorn listens; a process offers no event for it
                try:
                    await https.get("/healthz")
                    break
                except httpx.ConnectError:
                    assert process.poll() is None, "the gateway exited"
                    await asyncio.sleep(0.05)
            reply = await https.get(
                "/api/admin/queue/stats", headers={"Authorization": f"Bearer {ADMIN}"}
            )
        assert reply.status_code == 200, reply.text  # HTTPS in, mutual TLS out to ingest
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get("/healthz")  # no plain HTTP on the HTTPS port
    finally:
        process.terminate()
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    seen(stderr)
    assert ADMIN not in stderr


async def test_plain_http_beyond_loopback_is_served_with_a_warning() -> None:
    process = gateway_process(
        ARGS="--host 0.0.0.0", FBQ_ADMIN_TOKEN=ADMIN, FBQ_GATEWAY_PORT=str(free_port())
    )
    assert process.stderr is not None
    try:
        line = await asyncio.to_thread(process.stderr.readline)
        while line and "plain HTTP" not in line:  # the warning comes before serving
            line = await asyncio.to_thread(process.stderr.readline)
    finally:
        process.terminate()
        rest = await asyncio.to_thread(process.communicate, timeout=30)
    seen(line + rest[1])
    assert "serving plain HTTP on 0.0.0.0" in line
    assert "FBQ_TLS_CERT" in line


async def test_admin_actions_through_the_gateway_are_audited(
    stack: Stack,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fbq.audit")
    assert (await stack.http.post("/api/admin/queue/pause", headers=AUTH)).status_code == 200
    await stack.http.get("/api/admin/queue/stats", headers=AUTH)  # a read: not audited
    await stack.http.delete("/api/admin/submissions/Nope00000000", headers=AUTH)
    await stack.http.post("/api/admin/queue/resume")  # refused (no token): not audited
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    who = token_id(TOKEN)
    assert [x for x in lines if f"who={who}" in x] == [  # ingest audits its own calls too
        f"audit who={who} action=PauseQueue target=queue result=200",
        f"audit who={who} action=DeleteSubmission target=Nope00000000 result=404",
    ]
