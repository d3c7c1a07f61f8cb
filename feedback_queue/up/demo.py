"""`fbq up --demo`: submit the sample pieces in feedback_queue/up/samples and show their feedback.

Each piece's idempotency key is its file name, so a second demo on the same data finds the
first run's submissions instead of adding new ones.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

import grpc

from feedback_queue import tls
from feedback_queue.settings import TlsSettings
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc

Say = Callable[[str], None]
FINAL = (pb.COMPLETED, pb.FAILED)
BAR = 24


def samples() -> list[tuple[str, str]]:
    """(name, text) of every sample piece, in name order."""
    folder = resources.files("feedback_queue.up") / "samples"
    pieces = [
        (entry.name.removesuffix(".txt"), entry.read_text(encoding="utf-8").strip())
        for entry in folder.iterdir()
        if entry.name.endswith(".txt")
    ]
    return sorted(pieces)


def run_demo(
    address: str, token: str, say: Say, stopping: threading.Event, tls_settings: TlsSettings
) -> None:
    """Submit, follow and summarise the samples; quiet when the stack is stopping under it."""
    try:
        asyncio.run(demo(address, token, say, tls_settings))
    except grpc.RpcError as exc:
        if not stopping.is_set():
            code = exc.code().name if isinstance(exc, grpc.Call) else "error"
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            say(f"demo | stopped: {code}: {details}")


async def demo(address: str, token: str, say: Say, tls_settings: TlsSettings | None = None) -> None:
    """Submit the samples to ingest at `address`, follow them, print a table of feedback."""
    metadata = (("authorization", f"Bearer {token}"),)
    pieces = samples()
    requests = [
        pb.SubmitRequest(
            submission=pb.Submission(
                submitter_id="demo",
                content=text,
                idempotency_key=f"demo-{name}",
                metadata={"sample": name},
            )
        )
        for name, text in pieces
    ]
    async with tls.aio_channel(address, tls_settings or TlsSettings()) as channel:
        stub = pb_grpc.SubmissionServiceStub(channel)
        ids: dict[int, str] = {}
        async for reply in stub.SubmitStream(iter(requests), metadata=metadata):
            if reply.HasField("error"):
                say(f"demo | {pieces[reply.index][0]} refused: {reply.error.message}")
            else:
                ids[reply.index] = reply.accepted.id
        say(f"demo | submitted {len(ids)} sample pieces; waiting for their feedback")
        done: dict[int, pb.SubmissionInfo] = {}

        async def follow(index: int, job_id: str) -> None:
            call = stub.WatchSubmission(pb.WatchSubmissionRequest(id=job_id), metadata=metadata)
            async for info in call:
                if info.status in FINAL:
                    done[index] = info
                    say(f"demo | {progress(len(done), len(ids))}  {pieces[index][0]}")
                    return

        await asyncio.gather(*(follow(i, job_id) for i, job_id in ids.items()))
    say(table([(pieces[i][0], done[i]) for i in sorted(done)]))


def progress(done: int, total: int) -> str:
    filled = BAR * done // max(total, 1)
    return f"[{'#' * filled}{'.' * (BAR - filled)}] {done}/{total}"


def table(rows: list[tuple[str, pb.SubmissionInfo]]) -> str:
    """The feedback of each piece, a line each, then how to see the whole of one."""
    lines = ["", f"{'piece':<26} {'words':>5} {'ease':>4}  {'level':<16} advice"]
    for name, info in rows:
        if info.status != pb.COMPLETED:
            lines.append(f"{name:<26} FAILED: {info.last_error}")
            continue
        feedback = json.loads(info.result)
        lines.append(
            f"{name:<26} {feedback['words']:>5} {feedback['reading_ease']:>4.0f}  "
            f"{feedback['reading_level']:<16} {advice(feedback)}"
        )
    if rows:
        lines.append(f"\nthe whole feedback of one: fbq status {rows[0][1].id}")
    return "\n".join(lines)


def advice(feedback: dict[str, Any]) -> str:
    """The feedback's findings in a few words."""
    notes = []
    if feedback["long_sentences"]:
        notes.append(f"{len(feedback['long_sentences'])} very long sentence(s)")
    if feedback["repeated_words"]:
        notes.append("repeats " + ", ".join(r["word"] for r in feedback["repeated_words"][:3]))
    if feedback["doubled_words"]:
        notes.append("doubled " + ", ".join(feedback["doubled_words"][:3]))
    return "; ".join(notes) or "clear and varied"
