"""The audit trail of admin actions: one log line per call that changes the queue.

    audit who=principal:gateway action=RetrySubmission target=Qm1c3m9yZXNk result=OK
    audit who=tok:1a2b3c4d action=RetrySubmission target=Qm1c3m9yZXNk result=OK

`who` is the principal of ingest's credentials (`principal:<name>`), or, where a bare token is
all there is (the gateway's HTTP token), a token id (the first 8 hex digits of the token's
SHA-256), never the token: enough to tell which credential acted, useless to anyone reading the
log. Reads (stats, listing, health)
are not audited: the dashboard polls them every few seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re

log = logging.getLogger("fbq.audit")
_BARE = re.compile(r"[A-Za-z0-9_.:/@+-]+")


def token_id(token: str | None) -> str:
    """A stable, non-secret name for a token."""
    if not token:
        return "anonymous"
    return "tok:" + hashlib.sha256(token.encode()).hexdigest()[:8]


def principal(name: str) -> str:
    """The `who` of a call made by a principal of ingest's credentials."""
    return f"principal:{name}"


def record(who: str, action: str, target: str, result: str) -> None:
    """Write one audit line."""
    values = (value(who), value(action), value(target or "-"), value(result))
    log.info("audit who=%s action=%s target=%s result=%s", *values)


def value(text: str) -> str:
    """`text` as one field's value: bare when it is a plain word, else quoted as JSON quotes a
    string, so a caller's id (with a space, an `=`, a quote) cannot add a field such as
    `result=OK`; the log formatter escapes control characters (feedback_queue/logs.py)."""
    return text if _BARE.fullmatch(text) else json.dumps(text)
