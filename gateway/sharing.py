"""Fair share over HTTP: the JSON of GetFairShare and SetKeyQuota, and the checks of the
requests (`top`, the quota body) that answer 400 with what to fix before ingest is asked."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request

from feedback_queue.v1 import queue_pb2 as pb
from gateway.body import BadRequest, json_object

DEFAULT_TOP = 10
MAX_TOP = 1000
# A quota body is three numbers; anything much larger is not one.
MAX_BODY = 4096
# The body's names: as the proto and the CLI spell them, or camelCase like the answers.
FIELDS = {"weight": "weight", "rate": "rate", "max_active": "max_active", "maxActive": "max_active"}
BODY_EXAMPLE = '{"weight": 2, "rate": 5, "max_active": 10}'


def top_of(text: str | None) -> int:
    if text is None:
        return DEFAULT_TOP
    if not (len(text) <= 4 and text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_TOP:
        raise BadRequest(f"top: a whole number from 1 to {MAX_TOP} (default {DEFAULT_TOP})")
    return int(text)


async def quota_body(request: Request) -> dict[str, Any]:
    """The values a PUT sets: a JSON object of weight, rate and max_active (each optional,
    null keeps the current value; at least one given)."""
    body = await json_object(request, MAX_BODY, BODY_EXAMPLE)
    values: dict[str, Any] = {}
    for name, value in body.items():
        field = FIELDS.get(name)
        if field is None:
            raise BadRequest(f"unknown field {name!r}: give weight, rate or max_active")
        if field in values:
            raise BadRequest("max_active: give it once (max_active or maxActive)")
        values[field] = _number(field, value)
    given = {name: value for name, value in values.items() if value is not None}
    if not given:
        raise BadRequest(
            "give at least one of weight, rate, max_active (DELETE resets the key's quota)"
        )
    return given


def _number(field: str, value: object) -> float | int | None:
    if value is None:
        return None
    if field == "max_active":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadRequest("max_active: a whole number, 0 for no limit")
        if value > 2**32 - 1:
            raise BadRequest("max_active: at most 4294967295 (ingest takes at most 1000000)")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        what = "more than 0" if field == "weight" else "0 or more, 0 for no limit"
        raise BadRequest(f"{field}: a number, {what}")
    return float(value)


def key_quota(q: pb.KeyQuota) -> dict[str, Any]:
    return {
        "key": q.key,
        "weight": q.weight,
        "rate": q.rate,
        "maxActive": q.max_active,
        "custom": q.custom,
    }


def _share(k: pb.KeyShare) -> dict[str, Any]:
    quota = key_quota(k.quota)
    del quota["key"]
    return {
        "key": k.key,
        "waiting": k.waiting,
        "active": k.active,
        "started": k.started,
        "quota": quota,
    }


def fair_share(share: pb.FairShare) -> dict[str, Any]:
    """GetFairShare's answer as JSON: numbers as numbers, camelCase like the other answers."""
    defaults = key_quota(share.defaults)
    del defaults["key"], defaults["custom"]
    o = share.other
    return {
        "keys": [_share(k) for k in share.keys],
        "other": {"waiting": o.waiting, "active": o.active, "started": o.started},
        "keysWaiting": share.keys_waiting,
        "waitingByPriority": {
            "high": share.waiting_high,
            "normal": share.waiting_normal,
            "low": share.waiting_low,
        },
        "defaults": defaults,
        "quotas": [key_quota(q) for q in share.quotas],
    }
