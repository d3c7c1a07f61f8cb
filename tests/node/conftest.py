"""The Node example (examples/node), installed with `npm ci` and run against a real ingest.

CI has Node and npm; without them these tests fail (they are never skipped): the example is
part of the API's contract with clients in other languages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ingest.conftest import start_ingest  # noqa: F401  (shared fixture)
from tests.secrets import seen

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"
SCRIPT = EXAMPLE / "submit_batch.mjs"
# node_modules is installed once per package-lock.json: the stamp holds the lock's digest.
STAMP = EXAMPLE / "node_modules" / ".fbq-tests-installed"
# A cold npm cache downloads about 90 MB (google-proto-files ships all of googleapis' protos).
NPM_TIMEOUT = 500.0
RUN_TIMEOUT = 60.0

RunExample = Callable[..., Awaitable[list[Any]]]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"tests/node need `{name}` on PATH (Node.js 18+ and npm; CI has them): "
            "install them, e.g. `apt-get install nodejs npm`",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def node_example() -> Path:
    """examples/node with its packages installed (`npm ci`, skipped when the lock is unchanged)."""
    node, npm = _tool("node"), _tool("npm")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    if int(version.stdout.strip().lstrip("v").split(".")[0] or 0) < 18:
        pytest.fail(f"the Node example needs Node.js 18+, found {version.stdout.strip()}")
    digest = hashlib.sha256((EXAMPLE / "package-lock.json").read_bytes()).hexdigest()
    if not (STAMP.exists() and STAMP.read_text() == digest):
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"`npm ci` in {EXAMPLE} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        STAMP.write_text(digest)
    return EXAMPLE


@pytest.fixture
def run_example(node_example: Path) -> RunExample:
    """Run submit_batch.mjs against `address`: its output lines, parsed as JSON by default."""

    async def run(
        address: str,
        *args: str,
        token: str | None = None,
        requests: list[dict[str, Any]] | None = None,
        json_lines: bool = True,
    ) -> list[Any]:
        argv = [_tool("node"), str(SCRIPT), *(["--json"] if json_lines else []), *args]
        if requests is not None:
            argv.append("-")  # the requests come on standard input
        env = {k: v for k, v in os.environ.items() if not k.startswith("FBQ_")}
        env["FBQ_INGEST_ADDR"] = address
        if token is not None:
            env["FBQ_GRPC_TOKEN"] = token
        # Not subprocess.run: the ingest under test serves from this test's event loop.
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=node_example,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        given = json.dumps(requests).encode() if requests is not None else b""
        try:
            out, err = await asyncio.wait_for(process.communicate(given), RUN_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        stdout, stderr = out.decode(), err.decode()
        seen(stdout)
        seen(stderr)
        assert process.returncode == 0, f"the example failed ({process.returncode}):\n{stderr}"
        lines = stdout.splitlines()
        return [json.loads(line) for line in lines] if json_lines else lines

    return run
