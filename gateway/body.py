"""A request's JSON object body, bounded, with a 400 that says what to send when it is not one."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request


class BadRequest(Exception):
    """What is wrong with a request, in words that say what to fix (a 400's detail)."""


async def json_object(request: Request, max_bytes: int, example: str) -> dict[str, Any]:
    """The body as a JSON object of at most `max_bytes`; `example` shows one in the 400."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise BadRequest(
                f"the body is over {max_bytes} bytes: send a JSON object like {example}"
            )
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object like {example}")
    return body
