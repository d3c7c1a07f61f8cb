"""Requests that do not parse get INVALID_ARGUMENT, as the API documents, not UNKNOWN.

grpc parses each request before our code sees it; a DecodeError there (invalid UTF-8 in a
string field, corrupt wire bytes) would surface as UNKNOWN with the parser's exception. This
interceptor parses leniently and lets the call end INVALID_ARGUMENT with a plain message.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from feedback_queue.refusal import Refusal
from feedback_queue.rpc import refuse
from ingest_service.auth import Continuation, Handler, _Interceptor

Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class Malformed:
    """What a request that did not parse becomes."""

    reason: str

    async def refuse(self, context: Context) -> None:
        message = f"the request does not parse: {self.reason}"
        await refuse(
            context, Refusal(grpc.StatusCode.INVALID_ARGUMENT, message, "MALFORMED_REQUEST")
        )


class DecodeErrorInterceptor(_Interceptor):
    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return _lenient(handler, handler.request_deserializer)


def _lenient(handler: Handler, parse: Callable[[bytes], Any]) -> Handler:
    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError as exc:
            return Malformed(str(exc))

    # Under grpc.aio the behaviours are coroutine (or async generator) functions; the stubs
    # type them as the sync ones.
    behaviour: Any
    codecs = {
        "request_deserializer": deserialize,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        behaviour = handler.unary_unary

        async def unary_unary(request: Any, context: Context) -> Any:
            if isinstance(request, Malformed):
                await request.refuse(context)
            return await behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **codecs)
    if handler.unary_stream:
        behaviour = handler.unary_stream
        if not inspect.isasyncgenfunction(behaviour):  # writes with context.write()

            async def unary_writer(request: Any, context: Context) -> None:
                if isinstance(request, Malformed):
                    await request.refuse(context)
                await behaviour(request, context)

            return grpc.unary_stream_rpc_method_handler(unary_writer, **codecs)

        async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            if isinstance(request, Malformed):
                await request.refuse(context)
            async for reply in behaviour(request, context):
                yield reply

        return grpc.unary_stream_rpc_method_handler(unary_stream, **codecs)
    # Streaming requests are read with context.read() (grpc's request iterator is left unused):
    # one call per message instead of two nested async generators.
    if handler.stream_unary:
        behaviour = handler.stream_unary

        async def stream_unary(_requests: AsyncIterator[Any], context: Context) -> Any:
            return await behaviour(_Checked(context), context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **codecs)
    behaviour = handler.stream_stream
    if not inspect.isasyncgenfunction(behaviour):

        async def stream_writer(_requests: AsyncIterator[Any], context: Context) -> None:
            await behaviour(_Checked(context), context)

        return grpc.stream_stream_rpc_method_handler(stream_writer, **codecs)

    # A coroutine that writes each reply itself: grpc would otherwise iterate a generator that
    # iterates the servicer's.
    async def stream_stream(_requests: AsyncIterator[Any], context: Context) -> None:
        async for reply in behaviour(_Checked(context), context):
            await context.write(reply)

    return grpc.stream_stream_rpc_method_handler(stream_stream, **codecs)


class _Checked:
    """The requests of a stream; a malformed one ends the whole call INVALID_ARGUMENT."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def __aiter__(self) -> _Checked:
        return self

    async def __anext__(self) -> Any:
        request = await self._context.read()
        if request is grpc.aio.EOF:  # type: ignore[attr-defined]
            raise StopAsyncIteration
        if isinstance(request, Malformed):
            await request.refuse(self._context)
        return request
