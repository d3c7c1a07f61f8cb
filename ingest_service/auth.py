"""Bearer-token auth for gRPC calls, when FBQ_GRPC_TOKEN is set.

Health and reflection stay open so probes and grpcurl's discovery work without the token.
The comparison is constant-time; a refusal is logged with the method, never the token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

from feedback_queue.refusal import Refusal
from feedback_queue.rpc import refuse

log = logging.getLogger(__name__)

OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
MESSAGE = "missing or wrong token: send metadata 'authorization: Bearer <FBQ_GRPC_TOKEN>'"

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler]]"

if TYPE_CHECKING:
    _Interceptor: TypeAlias = grpc.aio.ServerInterceptor[Any, Any]
else:  # not subscriptable at run time
    _Interceptor = grpc.aio.ServerInterceptor


class TokenAuthInterceptor(_Interceptor):
    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        metadata = handler_call_details.invocation_metadata or ()
        given = next((str(v) for k, v in metadata if k == "authorization"), "")
        if hmac.compare_digest(given.encode(), self._expected):
            return handler
        log.info("%s refused UNAUTHENTICATED: %s token", method, "wrong" if given else "no")
        reason = "TOKEN_INVALID" if given else "TOKEN_MISSING"
        return _refusing(handler, Refusal(grpc.StatusCode.UNAUTHENTICATED, MESSAGE, reason))


def _refusing(handler: Handler, refusal: Refusal) -> Handler:
    """A handler of the same shape as `handler` that ends every call with `refusal`."""

    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await refuse(context, refusal)

    async def streaming(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        await refuse(context, refusal)
        yield  # pragma: no cover  (makes this an async generator)

    codecs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary, **codecs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(streaming, **codecs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary, **codecs)
    return grpc.stream_stream_rpc_method_handler(streaming, **codecs)
