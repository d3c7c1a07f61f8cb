"""`python -m gateway` refuses to serve the admin API without a token, except on loopback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from feedback_queue.up.embedded import free_port
from tests.ingest.conftest import StartIngest, start_ingest  # noqa: F401  (shared fixture)
from tests.secrets import secret

ROOT = Path(__file__).resolve().parents[2]


async def run_gateway(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "FBQ_ADMIN_TOKEN"}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", *args],
        env={**environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "FBQ_ADMIN_TOKEN is not set"),
        (("--insecure-no-auth", "--host", "0.0.0.0"), "only binds to loopback, not 0.0.0.0"),
    ],
)
async def test_refuses_to_start(args: tuple[str, ...], message: str) -> None:
    result = await run_gateway(*args)
    assert result.returncode == 1
    assert message in result.stderr


async def test_serves_the_admin_api_as_a_process(start_ingest: StartIngest) -> None:  # noqa: F811
    ingest = await start_ingest()
    port = free_port()
    env = {
        **os.environ,
        "FBQ_ADMIN_TOKEN": secret("process-token-77"),
        "FBQ_INGEST_ADDR": f"127.0.0.1:{ingest.server.port}",
        "FBQ_GATEWAY_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--host", "127.0.0.1"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):  # until uvicorn listens; a process offers no event for it
                try:
                    await http.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            reply = await http.get(
                "/api/admin/queue/stats", headers={"Authorization": "Bearer process-token-77"}
            )
        assert reply.status_code == 200, reply.text
        assert reply.json()["waiting"] == 0
    finally:
        process.terminate()
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    assert "process-token-77" not in stderr.decode()
