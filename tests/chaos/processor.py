"""The chaos tests' processor (FBQ_PROCESSOR=tests.chaos.processor:process).

It journals every attempt's start and end (see journal.py) in FBQ_CHAOS_JOURNAL, a folder, as
`worker-<pid>.events`. It awaits FBQ_CHAOS_SLEEP seconds (so that jobs are in flight when a
test kills something), or the submission's own metadata["sleep"]; a submission with
metadata["poison"] fails every attempt with a RetryableError.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from feedback_queue.processing import JobContext, RetryableError
from tests.chaos.journal import DONE, FAIL, START, Journal

_journal: Journal | None = None


def journal() -> Journal:
    global _journal  # noqa: PLW0603  (one journal per worker process)
    if _journal is None:
        folder = Path(os.environ["FBQ_CHAOS_JOURNAL"])
        _journal = Journal(folder / f"worker-{os.getpid()}.events")
    return _journal


async def process(job: JobContext) -> dict[str, int]:
    key = job.submission.idempotency_key or "-"
    journal().write(START, key, job.id, job.attempt)
    meta = job.submission.metadata
    await asyncio.sleep(float(meta.get("sleep", os.environ.get("FBQ_CHAOS_SLEEP", "0"))))
    if "poison" in meta:
        journal().write(FAIL, key, job.id, job.attempt)
        raise RetryableError("poison: this submission fails every attempt")
    journal().write(DONE, key, job.id, job.attempt)
    return {"attempt": job.attempt}
