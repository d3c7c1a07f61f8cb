"""The gRPC boundary shared by the services: ending a call refused, health, server options.

What a refusal says (code, message, reason, details) is decided in one place,
feedback_queue/refusal.py; `abort` sends it and logs it once.
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

from feedback_queue.errors import QueueError
from feedback_queue.refusal import Refusal, refusal_for

log = logging.getLogger(__name__)

# What a grpc.aio servicer method is given as its context.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Room for everything but `content` in one request: instructions, metadata, ids.
MESSAGE_OVERHEAD = 128 * 1024
# The HTTP/2 receive window of each call: 1 MiB in flight per round trip (20 MB/s per call at
# 50 ms, a 4 MiB batch in a few round trips).
STREAM_WINDOW = 1024 * 1024
# A fresh process may fail its first checks with nothing wrong (a worker that has not registered
# yet): that is start-up, not an outage, and is logged at DEBUG unless it lasts this many checks.
STARTUP_CHECKS = 3


async def abort(context: Context, exc: BaseException, method: str) -> NoReturn:
    """End the call with the refusal for `exc`, logging it once (no content, no secret)."""
    refusal = refusal_for(exc)
    if refusal.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL):
        log.warning("%s refused %s: %s", method, refusal.code.name, exc)
    else:
        log.info("%s refused %s: %s", method, refusal.code.name, refusal.message)
    await refuse(context, refusal)


async def refuse(context: Context, refusal: Refusal) -> NoReturn:
    """End the call with `refusal`: its status, and its details in the trailers."""
    await context.abort(refusal.code, refusal.message, refusal.trailers())
    raise AssertionError("context.abort returned")  # pragma: no cover


def server_options(
    max_content_bytes: int, max_batch_bytes: int = 0, max_result_bytes: int = 0
) -> list[tuple[str, int]]:
    """Message size limits: a request over the larger of content + overhead and a batch's
    bytes gets RESOURCE_EXHAUSTED from gRPC itself; an answer may carry a whole submission with
    its largest result (FBQ_MAX_RESULT_BYTES), so reading one never fails."""
    size = max(max_content_bytes + MESSAGE_OVERHEAD, max_batch_bytes)
    answer = max(size, max_content_bytes + max_result_bytes + MESSAGE_OVERHEAD)
    return [
        ("grpc.max_receive_message_length", size),
        ("grpc.max_send_message_length", answer + MESSAGE_OVERHEAD),
        ("grpc.so_reuseport", 0),
        # A fixed receive window per stream instead of one BDP probing grows without bound on
        # a fast link: what gRPC reads ahead of us stays bounded (issue #21, finding 3).
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", STREAM_WINDOW),
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
