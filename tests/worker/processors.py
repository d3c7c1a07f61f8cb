"""Processors for tests: they report each start and finish to a Redis list the test reads.

Named as module:function in FBQ_PROCESSOR for worker processes. The list is FBQ_TEST_EVENTS_KEY
at FBQ_TEST_EVENTS (a Redis URL); events are "start <id> <attempt> <pid>" and "done ...".
"""

from __future__ import annotations

import asyncio
import os

import redis

from feedback_queue.processing import JobContext

_client: redis.Redis | None = None


def emit(kind: str, job: JobContext) -> None:
    global _client  # noqa: PLW0603  (one client per worker process)
    if _client is None:
        _client = redis.Redis.from_url(os.environ["FBQ_TEST_EVENTS"])
    key = os.environ.get("FBQ_TEST_EVENTS_KEY", "test:events")
    _client.rpush(key, f"{kind} {job.id} {job.attempt} {os.getpid()}")


def record(job: JobContext) -> dict[str, bool]:
    """Succeeds at once."""
    emit("start", job)
    emit("done", job)
    return {"ok": True}


async def slow_first(job: JobContext) -> str:
    """The first attempt takes metadata["sleep"] seconds (default 60); later ones are instant."""
    emit("start", job)
    if job.attempt == 1:
        await asyncio.sleep(float(job.submission.metadata.get("sleep", "60")))
    emit("done", job)
    return "done"


def huge(job: JobContext) -> str:
    """A result of metadata["result_bytes"] bytes (issue #21: a 20 MB result)."""
    emit("start", job)
    emit("done", job)
    return "r" * int(job.submission.metadata.get("result_bytes", "10"))
