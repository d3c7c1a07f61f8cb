"""Small builders shared by the tests."""

from __future__ import annotations

from feedback_queue.v1 import queue_pb2 as pb


def submission(content: str = "An essay about queues.", **fields: object) -> pb.Submission:
    fields.setdefault("submitter_id", "learner-1")
    return pb.Submission(content=content, **fields)  # type: ignore[arg-type]
