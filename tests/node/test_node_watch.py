"""WatchSubmission from grpc-js (examples/node/watch.mjs) against a real ingest: the progress
a running attempt reports arrives on the stream as it is made, then the final state ends it."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from feedback_queue.progress import Progress
from tests.helpers import submission
from tests.ingest.conftest import StartIngest, start_ingest  # noqa: F401  (shared fixture)
from tests.node.conftest import RUN_TIMEOUT, _tool
from tests.secrets import seen

TOKEN = "node-watch-token-0123456789abcdef"


async def next_line(stream: asyncio.StreamReader) -> dict[str, Any]:
    line = await asyncio.wait_for(stream.readline(), RUN_TIMEOUT)
    assert line, "watch.mjs ended early"
    frame: dict[str, Any] = json.loads(line)
    return frame


async def test_progress_reaches_a_grpc_js_watch(
    start_ingest: StartIngest,  # noqa: F811
    node_example: Path,
) -> None:
    ingest = await start_ingest(grpc_token=TOKEN)
    queue = ingest.queue
    job_id = (await queue.enqueue(submission("An essay about rivers."))).id
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBQ_")}
    env |= {"FBQ_INGEST_ADDR": f"127.0.0.1:{ingest.server.port}", "FBQ_GRPC_TOKEN": TOKEN}
    process = await asyncio.create_subprocess_exec(
        _tool("node"),
        str(node_example / "watch.mjs"),
        "--json",
        job_id,
        cwd=node_example,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        first = await next_line(process.stdout)
        assert (first["id"], first["status"]) == (job_id, "WAITING")
        await queue.heartbeat("w1")
        [job] = await queue.reserve("w1")
        assert (await next_line(process.stdout))["status"] == "ACTIVE"
        seen_progress = []
        for percent, message in ((10.0, "reading"), (60.0, "writing the feedback")):
            report = (job.id, job.token, Progress(percent, message).encode())
            await queue.report([report], 0)
            frame = await next_line(process.stdout)
            assert frame["status"] == "ACTIVE"
            seen_progress.append((frame["progress"]["percent"], frame["progress"]["message"]))
        assert seen_progress == [(10.0, "reading"), (60.0, "writing the feedback")]
        await queue.ack("w1", [(job.id, job.token, '{"score": 4}')])
        last = await next_line(process.stdout)
        assert (last["status"], last["result"], last["progress"]) == (
            "COMPLETED",
            '{"score": 4}',
            None,
        )
        assert await asyncio.wait_for(process.wait(), RUN_TIMEOUT) == 0  # the stream ended
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        assert process.stderr is not None
        seen((await process.stderr.read()).decode())
