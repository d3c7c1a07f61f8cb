"""The chaos tests' processor (FBQ_PROCESSOR=tests.chaos.processor:process).

It journals every attempt's start and end (see journal.py) in FBQ_CHAOS_JOURNAL, a folder, as
`worker-<pid>.events`. It awaits FBQ_CHAOS_SLEEP seconds (so that jobs are in flight when a
test kills something), or the submission's own metadata["sleep"]; a submission with
metadata["poison"] fails every attempt with a RetryableError.

Every attempt also reports progress (10% at its start, 90% after its sleep), so every scenario
has progress reports, and the leases they renew, in the mix.

Two more modes, for the scenarios that need them:
- FBQ_CHAOS_GATE, a file path: an attempt after the first waits until that file exists before
  it runs. A test holds the re-runs of reaped jobs with it (they are attempt 2 or later) while
  it watches what the first attempt's late outcomes do, then opens the gate (creates the file).
  FBQ_CHAOS_HOLD, a file path, holds every attempt the same way (given to one worker, it keeps
  that worker's slots busy), and metadata["gate"] every attempt of one submission.
- `fate`: FBQ_CHAOS_FAIL_PERMANENT percent of the keys fail for good (PermanentError: FAILED at
  once), the next FBQ_CHAOS_FAIL_ONCE percent fail their first attempt (RetryableError) and
  succeed after; which keys is decided by the key alone, so a test computes the same with
  `fate`. metadata["fail"] ("permanent" or "once") decides for one submission instead.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from pathlib import Path

from feedback_queue.processing import JobContext, PermanentError, RetryableError
from tests.chaos.journal import DONE, FAIL, START, Journal

OK, ONCE, PERMANENT = "ok", "once", "permanent"
GATE_POLL = 0.02  # seconds between looks at the gate file: no event crosses processes

_journal: Journal | None = None


def journal() -> Journal:
    global _journal  # noqa: PLW0603  (one journal per worker process)
    if _journal is None:
        folder = Path(os.environ["FBQ_CHAOS_JOURNAL"])
        _journal = Journal(folder / f"worker-{os.getpid()}.events")
    return _journal


def fate(key: str, permanent: int, once: int) -> str:
    """What the processor does with `key`: OK, ONCE (first attempt fails) or PERMANENT, with
    `permanent` and `once` in percent of the keys."""
    bucket = zlib.crc32(key.encode()) % 100
    if bucket < permanent:
        return PERMANENT
    return ONCE if bucket < permanent + once else OK


def _fate(key: str, meta: dict[str, str]) -> str:
    if "fail" in meta:
        return meta["fail"]
    env = os.environ
    permanent = int(env.get("FBQ_CHAOS_FAIL_PERMANENT", "0"))
    return fate(key, permanent, int(env.get("FBQ_CHAOS_FAIL_ONCE", "0")))


async def _gate(path: str) -> None:
    # Another process opens it, and one stat per look does not hold the loop up.
    while not os.path.exists(path):  # noqa: ASYNC110, ASYNC240
        await asyncio.sleep(GATE_POLL)


async def process(job: JobContext) -> dict[str, int]:
    key = job.submission.idempotency_key or "-"
    journal().write(START, key, job.id, job.attempt)
    meta = dict(job.submission.metadata)
    env = os.environ
    for gate in (
        meta.get("gate"),
        env.get("FBQ_CHAOS_HOLD"),
        env.get("FBQ_CHAOS_GATE") if job.attempt > 1 else None,
    ):
        if gate:
            await _gate(gate)
    # Progress mixed into every scenario: reports before and after the work, each a write
    # (paced by the worker) that renews the attempt's lease while the chaos goes on.
    job.report(percent=10, message=f"attempt {job.attempt} started")
    await asyncio.sleep(float(meta.get("sleep", env.get("FBQ_CHAOS_SLEEP", "0"))))
    job.report(percent=90, message="almost done", partial={"attempt": job.attempt})
    if "poison" in meta:
        journal().write(FAIL, key, job.id, job.attempt)
        raise RetryableError("poison: this submission fails every attempt")
    decided = _fate(key, meta)
    if decided == PERMANENT:
        journal().write(FAIL, key, job.id, job.attempt)
        raise PermanentError(f"chaos: {key} fails for good")
    if decided == ONCE and job.attempt == 1:
        journal().write(FAIL, key, job.id, job.attempt)
        raise RetryableError(f"chaos: {key} fails its first attempt")
    journal().write(DONE, key, job.id, job.attempt)
    return {"attempt": job.attempt}
