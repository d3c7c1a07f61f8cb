"""The processor of the `fbq up` tests: the real feedback, except for a poisoned piece.

A piece containing POISON fails permanently until the file named by UP_TEST_CURE exists, so a
test can send it to FAILED, cure it and retry it from the dead-letter list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from feedback_queue.processing import JobContext, PermanentError
from worker_service import feedback


def process(job: JobContext) -> dict[str, Any]:
    if "POISON" in job.submission.content and not Path(os.environ["UP_TEST_CURE"]).exists():
        raise PermanentError("poisoned piece")
    return feedback.process(job)
