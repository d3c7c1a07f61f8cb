"""Cancelling over HTTP: the body of a filter cancel, checked before ingest is asked (a 400 says
what to fix), and the CancelSubmission request it makes."""

from __future__ import annotations

from starlette.requests import Request

from feedback_queue.v1 import queue_pb2 as pb
from gateway.body import BadRequest, json_object
from gateway.views import STATUS_NAMES

MAX_BODY = 4096
BODY_EXAMPLE = '{"submitterId": "learner-42", "statuses": ["waiting"], "dryRun": true}'
STATES = {name: STATUS_NAMES[name] for name in ("waiting", "delayed")}
TEXT_FIELDS = {"submitterId": "submitter_id", "fairnessKey": "fairness_key"}


async def filter_request(request: Request) -> pb.CancelSubmissionRequest:
    """A filter cancel's request from a body like BODY_EXAMPLE: submitterId and/or
    fairnessKey, statuses (waiting, delayed; default both), dryRun (default false)."""
    body = await json_object(request, MAX_BODY, BODY_EXAMPLE)
    where = pb.CancelFilter()
    dry_run = False
    for name, value in body.items():
        if name in TEXT_FIELDS:
            if not isinstance(value, str):
                raise BadRequest(f"{name}: a string")
            setattr(where, TEXT_FIELDS[name], value)
        elif name == "statuses":
            if not isinstance(value, list) or not all(v in STATES for v in value):
                raise BadRequest('statuses: a list of "waiting" and "delayed"')
            where.statuses.extend(STATES[v] for v in value)
        elif name == "dryRun":
            if not isinstance(value, bool):
                raise BadRequest("dryRun: true or false")
            dry_run = value
        else:
            raise BadRequest(
                f"unknown field {name!r}: give submitterId, fairnessKey, statuses, dryRun"
            )
    if not (where.submitter_id or where.fairness_key):
        raise BadRequest("give submitterId or fairnessKey (or both): like " + BODY_EXAMPLE)
    return pb.CancelSubmissionRequest(filter=where, dry_run=dry_run)
