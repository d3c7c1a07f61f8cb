"""Who is calling, and may it: principals from bearer tokens or client certificates, and roles.

A call's principal comes from its `authorization: Bearer <token>` (looked up by the token's
hash in the credentials: FBQ_CREDENTIALS_FILE, and FBQ_GRPC_TOKEN as principal `admin`), else,
under mutual TLS, from its client certificate's subject common name (a `cn:` credential). No
credential, or an unknown token, is UNAUTHENTICATED; a role that does not allow the method is
PERMISSION_DENIED (ROLE_FORBIDS). The principal is set in `identity.CURRENT` for the rest of the
call. Health and reflection stay open so probes and grpcurl's discovery need nothing. A refusal
is logged with the method and the principal, never the token.

grpc.aio runs the interceptors in the call's own task, so a principal known from the metadata is
set here and the servicer reads it (tests/security/test_roles.py pins that). A certificate is
only visible on the call's context, so that principal is set by a wrapper around the handler.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

from feedback_queue.credentials import Credentials, Principal
from feedback_queue.refusal import Refusal, role_forbids, unauthenticated
from feedback_queue.rpc import refuse
from ingest_service import identity

log = logging.getLogger(__name__)

OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
BEARER = "Bearer "

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler]]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

if TYPE_CHECKING:
    _Interceptor: TypeAlias = grpc.aio.ServerInterceptor[Any, Any]
else:  # not subscriptable at run time
    _Interceptor = grpc.aio.ServerInterceptor


class AuthInterceptor(_Interceptor):
    """Authenticate each call, check its role, and set `identity.CURRENT`."""

    def __init__(self, credentials: Credentials, *, certificates: bool = False) -> None:
        self._credentials = credentials
        # Mutual TLS with `cn:` credentials: a call without a token may present a certificate.
        self._certificates = certificates and bool(credentials.by_cert_name)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        metadata = handler_call_details.invocation_metadata or ()
        given = next((str(v) for k, v in metadata if k == "authorization"), "")
        if given:
            principal = self._credentials.by_token(given.removeprefix(BEARER))
            if principal is None or not given.startswith(BEARER):
                log.info("%s refused UNAUTHENTICATED: wrong token", method)
                return _refusing(handler, unauthenticated(True))
            refusal = _admit(principal, method)
            return handler if refusal is None else _refusing(handler, refusal)
        if self._certificates:
            return _checked(handler, lambda context: self._by_certificate(context, method))
        log.info("%s refused UNAUTHENTICATED: no token", method)
        return _refusing(handler, unauthenticated(False))

    def _by_certificate(self, context: Context, method: str) -> Refusal | None:
        names = context.auth_context().get("x509_common_name", [])
        for name in names:
            principal = self._credentials.by_certificate(name.decode(errors="replace"))
            if principal is not None:
                return _admit(principal, method)
        log.info("%s refused UNAUTHENTICATED: no token, certificate without a credential", method)
        return unauthenticated(False, certificates=True)


def _admit(principal: Principal, method: str) -> Refusal | None:
    """Set the call's principal, or the refusal of a role that may not call `method`."""
    name = method.rsplit("/", 1)[-1]
    if not principal.may(name):
        log.info(
            "%s refused PERMISSION_DENIED: principal %s has role %s",
            method,
            principal.name,
            principal.role.value,
        )
        return role_forbids(principal.role.value, name)
    identity.CURRENT.set(principal)
    return None


def _checked(handler: Handler, check: Callable[[Context], Refusal | None]) -> Handler:
    """`handler`, with `check` run on the call's context first (a refusal ends the call)."""
    behaviour: Any
    codecs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }

    async def admitted(context: Context) -> None:
        refusal = check(context)
        if refusal is not None:
            await refuse(context, refusal)

    # Under grpc.aio the behaviours are coroutine (or async generator) functions; the stubs
    # type them as the sync ones.
    if handler.unary_unary or handler.stream_unary:
        behaviour = handler.unary_unary or handler.stream_unary

        async def unary(request: Any, context: Context) -> Any:
            await admitted(context)
            return await behaviour(request, context)

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary, **codecs)
        return grpc.stream_unary_rpc_method_handler(unary, **codecs)
    behaviour = handler.unary_stream or handler.stream_stream
    make = (
        grpc.unary_stream_rpc_method_handler
        if handler.unary_stream
        else grpc.stream_stream_rpc_method_handler
    )
    if inspect.isasyncgenfunction(behaviour):

        async def generating(request: Any, context: Context) -> AsyncIterator[Any]:
            await admitted(context)
            async for reply in behaviour(request, context):
                yield reply

        return make(generating, **codecs)

    async def writing(request: Any, context: Context) -> None:  # writes with context.write()
        await admitted(context)
        await behaviour(request, context)

    return make(writing, **codecs)


def _refusing(handler: Handler, refusal: Refusal) -> Handler:
    """A handler of the same shape as `handler` that ends every call with `refusal`."""

    async def unary(request: Any, context: Context) -> Any:
        await refuse(context, refusal)

    async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
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
