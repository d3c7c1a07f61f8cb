"""Caps on what callers hold at once (issue #21, finding 3 and 5): a call over one is refused
RESOURCE_EXHAUSTED before it does anything, with a stable reason (caps.py).

Each call of SubmissionService and AdminService counts as one of three kinds, per principal
(`identity.current()`, set by the authenticating interceptor, which runs before this one) and
in total: a SubmitStream (FBQ_MAX_STREAMS), a WatchSubmission (FBQ_MAX_WATCHES), or any unary
call (FBQ_MAX_CALLS), whose request's bytes also count against FBQ_MAX_REQUEST_BYTES while it
runs. Health and reflection are never capped, so probes answer whatever callers do. Counting
starts when the handler runs and ends with it, so a call cancelled before never leaks a slot.

Refusals are logged at most once per reason every LOG_EVERY seconds, with how many there were:
a flood of refused calls cannot become a flood of log lines.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from feedback_queue.errors import Overloaded
from feedback_queue.refusal import refusal_for
from feedback_queue.rpc import refuse
from feedback_queue.settings import Bounds
from ingest_service import identity
from ingest_service.auth import Continuation, Handler, _Interceptor
from ingest_service.caps import Cap, Caps
from ingest_service.throttle import ThrottledLog

log = logging.getLogger(__name__)

CAPPED_PREFIXES = ("/feedback_queue.v1.SubmissionService/", "/feedback_queue.v1.AdminService/")
STREAM = "/feedback_queue.v1.SubmissionService/SubmitStream"
WATCH = "/feedback_queue.v1.SubmissionService/WatchSubmission"
LOG_EVERY = 10.0

Context = grpc.aio.ServicerContext[Any, Any]


class RefusalLog:
    """One line per reason every LOG_EVERY seconds, counting the refusals it stands for."""

    def __init__(self, every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic):
        self._log = ThrottledLog(log, logging.WARNING, every, clock)

    def refused(self, method: str, principal: str, exc: Overloaded) -> None:
        self._log.log(
            exc.reason,
            "%s refused RESOURCE_EXHAUSTED %s for principal %s: %s",
            method,
            exc.reason,
            principal,
            exc,
        )


class BoundsInterceptor(_Interceptor):
    def __init__(self, bounds: Bounds, *, refusals: RefusalLog | None = None) -> None:
        self.caps = Caps.from_bounds(bounds)
        self.refusals = refusals or RefusalLog()

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(CAPPED_PREFIXES):
            return handler
        if method == STREAM:
            return self._counted(handler, method, self.caps.streams)
        if method == WATCH:
            return self._counted(handler, method, self.caps.watches)
        if handler.unary_unary:
            return self._unary(handler, method)
        return self._counted(handler, method, self.caps.calls)

    def _take(self, cap: Cap, method: str, amount: int = 1) -> str:
        """The principal, once `amount` is counted for it; Overloaded (logged) if over."""
        principal = identity.current().name
        try:
            cap.take(principal, amount)
        except Overloaded as exc:
            self.refusals.refused(method.rpartition("/")[2], principal, exc)
            raise
        return principal

    def _unary(self, handler: Handler, method: str) -> Handler:
        # Under grpc.aio a behaviour is a coroutine function; the stubs type it as the sync one.
        behaviour: Any = handler.unary_unary
        calls, request_bytes = self.caps.calls, self.caps.request_bytes

        async def unary(request: Any, context: Context) -> Any:
            # A malformed request (decoding.py) has no size; it is refused at once below.
            size = request.ByteSize() if hasattr(request, "ByteSize") else 0
            try:
                principal = self._take(calls, method)
            except Overloaded as exc:
                await refuse(context, refusal_for(exc))
            try:
                self._take(request_bytes, method, size)
            except Overloaded as exc:
                calls.give_back(principal)
                await refuse(context, refusal_for(exc))
            try:
                return await behaviour(request, context)
            finally:
                request_bytes.give_back(principal, size)
                calls.give_back(principal)

        return grpc.unary_unary_rpc_method_handler(unary, **_codecs(handler))

    def _counted(self, handler: Handler, method: str, cap: Cap) -> Handler:
        """A streaming handler (or a unary one without request bytes) counted against `cap`."""
        behaviour: Any = handler.unary_stream or handler.stream_stream or handler.stream_unary
        if inspect.isasyncgenfunction(behaviour):

            async def generator(request: Any, context: Context) -> AsyncIterator[Any]:
                try:
                    principal = self._take(cap, method)
                except Overloaded as exc:
                    await refuse(context, refusal_for(exc))
                try:
                    async for reply in behaviour(request, context):
                        yield reply
                finally:
                    cap.give_back(principal)

            wrapped: Any = generator
        else:  # writes its replies with context.write(), or returns one

            async def coroutine(request: Any, context: Context) -> Any:
                try:
                    principal = self._take(cap, method)
                except Overloaded as exc:
                    await refuse(context, refusal_for(exc))
                try:
                    return await behaviour(request, context)
                finally:
                    cap.give_back(principal)

            wrapped = coroutine
        codecs = _codecs(handler)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(wrapped, **codecs)
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(wrapped, **codecs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(wrapped, **codecs)
        return grpc.unary_unary_rpc_method_handler(wrapped, **codecs)


def _codecs(handler: Handler) -> dict[str, Any]:
    return {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
