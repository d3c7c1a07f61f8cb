"""The `http` processor: hand each submission to a model service over HTTP.

2xx: the body is the result. 429 and 5xx, timeouts and connection errors: retry later, no
sooner than a Retry-After header says. Any other 4xx: the service will never accept this
submission, so it is dead-lettered. One pooled client serves every job of the worker.

The URL may carry the service's API key (a query parameter, a password): httpx's own request
log, which prints it whole, is kept quiet (feedback_queue/logs.py), and no line of ours names
it. What the service answers stays out of the logs too (it may quote the submission).
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx
from google.protobuf.json_format import MessageToDict

from feedback_queue.processing import JobContext, PermanentError, RetryableError

MAX_RETRY_AFTER = 3600.0
_BODY_IN_ERROR = 200


def retry_after(value: str | None, now: float | None = None) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); 0 when absent or bad."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 0.0
    return min(max(when - (time.time() if now is None else now), 0.0), MAX_RETRY_AFTER)


class HttpProcessor:
    def __init__(
        self, url: str, *, timeout: float, client: httpx.AsyncClient | None = None
    ) -> None:
        self.url = url
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_keepalive_connections=64),
            headers={"user-agent": "feedback-queue-worker"},
        )

    async def __call__(self, job: JobContext) -> str:
        body = {
            "id": job.id,
            "attempt": job.attempt,
            "max_attempts": job.max_attempts,
            "submission": MessageToDict(job.submission, preserving_proto_field_name=True),
        }
        try:
            response = await self.client.post(self.url, json=body)
        except httpx.TimeoutException:
            raise RetryableError("the model service timed out") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"cannot reach the model service ({type(exc).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return response.text
        if status == 429 or status >= 500:
            raise RetryableError(
                f"the model service answered HTTP {status}",
                retry_after=retry_after(response.headers.get("retry-after")),
            )
        # The body often quotes the submission: kept on it as the error's detail, not logged.
        raise PermanentError(
            f"the model service refused the submission: HTTP {status}",
            detail=response.text[:_BODY_IN_ERROR],
        )

    async def aclose(self) -> None:
        await self.client.aclose()
