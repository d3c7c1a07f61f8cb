"""The gRPC boundary shared by the services: error mapping, health, server options.

`status_for` is the one place that maps core errors to gRPC status codes. Clients see a message
that says what to fix; causes that only an operator can act on (which Redis, why) go to the
server log instead, so an API client never learns internal addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NoReturn, TypeAlias

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from feedback_queue.errors import (
    Conflict,
    InvalidSubmission,
    NotFound,
    QueueError,
    QueueFull,
    QueueUnavailable,
)

log = logging.getLogger(__name__)

# What a grpc.aio servicer method is given as its context.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
RETRY_AFTER_KEY = "retry-after-ms"
UNAVAILABLE_MESSAGE = (
    "the queue's storage (Redis) is unavailable; retry with the same idempotency_key"
)
# Room for everything but `content` in one request: instructions, metadata, ids.
MESSAGE_OVERHEAD = 128 * 1024
# A fresh process may fail its first checks with nothing wrong (a worker that has not registered
# yet): that is start-up, not an outage, and is logged at DEBUG unless it lasts this many checks.
STARTUP_CHECKS = 3


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and client-facing message for an error raised below a servicer."""
    if isinstance(exc, InvalidSubmission):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, Conflict):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, QueueFull):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    if isinstance(exc, QueueUnavailable):
        return grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE
    if isinstance(exc, QueueError):
        return grpc.StatusCode.INTERNAL, "the queue could not complete the request; see the logs"
    return grpc.StatusCode.INTERNAL, "internal error"


def retry_after_ms(exc: BaseException) -> int | None:
    """The back-off hint of a refusal, in ms, when it has one."""
    if isinstance(exc, QueueFull) and exc.retry_after is not None:
        return max(int(exc.retry_after * 1000), 1)
    return None


async def abort(context: Context, exc: BaseException, method: str) -> NoReturn:
    """End the call with the status for `exc`, logging the refusal once (no content, no secret)."""
    code, message = status_for(exc)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL):
        log.warning("%s refused %s: %s", method, code.name, exc)
    else:
        log.info("%s refused %s: %s", method, code.name, message)
    wait = retry_after_ms(exc)
    if wait is not None:
        context.set_trailing_metadata(((RETRY_AFTER_KEY, str(wait)),))
    await context.abort(code, message)
    raise AssertionError("context.abort returned")  # pragma: no cover


def server_options(max_content_bytes: int) -> list[tuple[str, int]]:
    """Message size limits: a request over content + overhead gets RESOURCE_EXHAUSTED."""
    size = max_content_bytes + MESSAGE_OVERHEAD
    return [
        ("grpc.max_receive_message_length", size),
        ("grpc.max_send_message_length", size + MESSAGE_OVERHEAD),
        ("grpc.so_reuseport", 0),
    ]


class HealthReporter:
    """Drives the stock grpc health servicer from a background Redis check.

    "" and "readiness" (and each business service) are SERVING only while `check` passes, so a
    probe never blocks on Redis; "liveness" is SERVING while the event loop runs this task.
    The log says "ready" once the first check passes, and "not ready" / "ready again" only
    around an outage that follows it.
    """

    def __init__(
        self,
        check: Callable[[], Awaitable[object]],
        services: Iterable[str],
        interval: float,
        *,
        liveness: Callable[[], bool] = lambda: True,
    ) -> None:
        self.servicer = health_aio.HealthServicer()
        self._check = check
        self._ready_names = ["", "readiness", *services]
        self._interval = interval
        self._liveness = liveness
        self._ready: bool | None = None  # None until the first check passes
        self._startup_failures = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Check every interval until `shutdown`."""
        while not self._stop.is_set():
            await self.check_once()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._stop.wait()

    async def check_once(self) -> bool:
        """Run the check once, set every status from it, and say whether it passed."""
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the check completes, and the caller then waits forever.
            async with asyncio.timeout(max(self._interval, 1.0)):
                await self._check()
            ready = True
        except (QueueError, TimeoutError, OSError) as exc:
            ready = False
            self._log_failure(str(exc) or type(exc).__name__)
        if ready and self._ready is None:
            log.info("ready: Redis answers")
        elif ready and self._ready is False:
            log.info("ready again: Redis answers")
        if ready or self._ready is not None:
            self._ready = ready
        status = SERVING if ready else NOT_SERVING
        for name in self._ready_names:
            await self.servicer.set(name, status)
        await self.servicer.set("liveness", SERVING if self._liveness() else NOT_SERVING)
        return ready

    def _log_failure(self, reason: str) -> None:
        if self._ready:
            log.warning("not ready: %s", reason)
        elif self._ready is None:
            self._startup_failures += 1
            if self._startup_failures == STARTUP_CHECKS:
                log.warning("not ready since start-up (%d checks): %s", STARTUP_CHECKS, reason)
            else:
                log.debug("not ready yet: %s", reason)

    async def shutdown(self) -> None:
        """Every service NOT_SERVING from now on (before the server stops); `run` ends."""
        self._stop.set()
        await self.servicer.enter_graceful_shutdown()
