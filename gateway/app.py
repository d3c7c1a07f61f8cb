"""The admin HTTP API and dashboard: routes, bearer tokens and roles (gateway/auth.py), security
headers. Built by `create_app`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from feedback_queue import audit
from feedback_queue.credentials import Credentials
from feedback_queue.v1 import queue_pb2 as pb
from gateway import cancelling, dashboard, sharing, views
from gateway.auth import HttpAuth, Refusal, forbids
from gateway.body import BadRequest
from gateway.client import IngestClient
from gateway.errors import from_rpc_error, problem
from gateway.metrics import METRICS_TOP_KEYS, QueueCollector

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
# What the dashboard needs and nothing more: its own scripts, styles and icon, fetches to its
# own origin. No inline script or style, no eval, no framing; Trusted Types forbid HTML sinks
# (innerHTML and friends), so the page builds its DOM from text only. JSON answers get it too.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}


class AdminApi:
    """The route handlers, over one ingest client."""

    def __init__(self, client: IngestClient) -> None:
        self.client = client
        self.collector = QueueCollector()
        self.registry = CollectorRegistry()
        self.registry.register(self.collector)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(self, request: Request) -> Response:
        health, share, timings = await asyncio.gather(
            self.client.redis_health(),
            self.client.fair_share(METRICS_TOP_KEYS),
            self.client.timings(),
            return_exceptions=True,
        )
        # A failed call leaves its families out: the scrape itself still answers.
        for answer in (health, share, timings):
            if isinstance(answer, BaseException) and not isinstance(answer, grpc.aio.AioRpcError):
                raise answer
        self.collector.snapshot = health if isinstance(health, pb.RedisHealth) else None
        self.collector.fair_share = share if isinstance(share, pb.FairShare) else None
        self.collector.timings = timings if isinstance(timings, pb.Timings) else None
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def redis_health(self, request: Request) -> Response:
        try:
            body = views.redis_health(await self.client.redis_health())
        except grpc.aio.AioRpcError as error:
            reason = (
                "the ingest service did not answer in time"
                if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                else "the ingest service is unreachable"
            )
            body = views.unreachable(self.client.address, reason)
        return JSONResponse(body, status_code=503 if body["status"] == "unhealthy" else 200)

    async def stats(self, request: Request) -> Response:
        return JSONResponse(views.queue_stats(await self.client.stats()))

    async def list_submissions(self, request: Request) -> Response:
        name = request.query_params.get("status", "")
        if name not in views.STATUS_NAMES:
            return problem(400, "status: one of " + ", ".join(views.STATUS_NAMES))
        size = request.query_params.get("pageSize", "50")
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if not (len(size) <= 3 and size.isascii() and size.isdigit()) or not 1 <= int(size) <= 500:
            return problem(400, "pageSize: a whole number from 1 to 500")
        page = await self.client.list(
            views.STATUS_NAMES[name], int(size), request.query_params.get("pageToken", "")
        )
        return JSONResponse(
            {
                "submissions": [views.submission(s) for s in page.submissions],
                "nextPageToken": page.next_page_token,
                "total": page.total,
            }
        )

    async def get_submission(self, request: Request) -> Response:
        return JSONResponse(views.submission(await self.client.get(request.path_params["id"])))

    async def retry(self, request: Request) -> Response:
        return JSONResponse({"retried": await self.client.retry(request.path_params["id"])})

    async def retry_failed(self, request: Request) -> Response:
        return JSONResponse({"retried": await self.client.retry(all_failed=True)})

    async def delete(self, request: Request) -> Response:
        await self.client.delete(request.path_params["id"])
        return Response(status_code=204)

    async def cancel(self, request: Request) -> Response:
        reply = await self.client.cancel(pb.CancelSubmissionRequest(id=request.path_params["id"]))
        return JSONResponse({"status": views.status_name(reply.status), "already": reply.already})

    async def cancel_matching(self, request: Request) -> Response:
        try:
            call = await cancelling.filter_request(request)
        except BadRequest as exc:
            return problem(400, str(exc))
        reply = await self.client.cancel(call)
        return JSONResponse(
            {"matched": reply.matched, "cancelled": reply.cancelled, "dryRun": call.dry_run}
        )

    async def pause(self, request: Request) -> Response:
        return JSONResponse({"paused": await self.client.pause()})

    async def resume(self, request: Request) -> Response:
        return JSONResponse({"paused": await self.client.resume()})

    async def fair_share(self, request: Request) -> Response:
        try:
            top = sharing.top_of(request.query_params.get("top"))
        except BadRequest as exc:
            return problem(400, str(exc))
        return JSONResponse(sharing.fair_share(await self.client.fair_share(top)))

    async def set_quota(self, request: Request) -> Response:
        try:
            values = await sharing.quota_body(request)
        except BadRequest as exc:
            return problem(400, str(exc))
        quota = await self.client.set_quota(request.path_params["key"], values, reset=False)
        return JSONResponse(sharing.key_quota(quota))

    async def reset_quota(self, request: Request) -> Response:
        quota = await self.client.set_quota(request.path_params["key"], {}, reset=True)
        return JSONResponse(sharing.key_quota(quota))


def guard(handler: Handler, auth: HttpAuth, address: str, method: str, action: str = "") -> Handler:
    """Admit the caller whose role may call `method` (401 without a token, 403 with a wrong one
    or a role that may not), and turn ingest's errors into problem responses. An `action` (a
    call that changes the queue) is audited once the token is known, refused by role or not."""

    async def guarded(request: Request) -> Response:
        caller = auth.caller(request.headers.get("authorization", ""))
        if isinstance(caller, Refusal):
            if caller.status == 401:
                return problem(401, caller.detail, {"WWW-Authenticate": 'Bearer realm="fbq-admin"'})
            log.info("%s %s refused: wrong token", request.method, request.url.path)
            return problem(caller.status, caller.detail)
        refused = forbids(caller, method)
        response: Response
        if refused is not None:
            log.info(
                "%s %s refused: %s may not %s",
                request.method,
                request.url.path,
                caller.who,
                method,
            )
            response = problem(refused.status, refused.detail, reason=refused.reason)
        else:
            try:
                response = await handler(request)
            except grpc.aio.AioRpcError as error:
                log.info(
                    "%s %s: ingest answered %s", request.method, request.url.path, error.code().name
                )
                response = from_rpc_error(error, address)
        if action:
            key = request.path_params.get("key")
            target = request.path_params.get("id") or (
                f"key:{key}"
                if key is not None
                else "all-failed"
                if action == "RetryAllFailed"
                else "filter"
                if action == "CancelMatching"
                else "queue"
            )
            audit.record(caller.who, action, target, str(response.status_code))
        return response

    return guarded


async def _not_found(request: Request, exc: Exception) -> Response:
    return problem(404, f"no route {request.method} {request.url.path}")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return problem(405, f"{request.method} is not allowed on {request.url.path}")


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return problem(500, "internal error; see the gateway's log")


def create_app(
    client: IngestClient,
    *,
    token: str | None,
    cors_origins: tuple[str, ...] = (),
    credentials: Credentials | None = None,
) -> Starlette:
    """The ASGI app: `token` (FBQ_ADMIN_TOKEN) is an admin, `credentials`' principals have their
    roles; neither means no auth (only allowed on loopback, see server.py)."""
    h = AdminApi(client)
    auth = HttpAuth(token, credentials or Credentials({}, {}))

    def admin(path: str, handler: Handler, rpc: str, http: str = "GET", action: str = "") -> Route:
        guarded = guard(handler, auth, client.address, rpc, action)
        return Route(f"/api/admin{path}", guarded, methods=[http])

    routes = [
        Route("/healthz", h.healthz),
        Route("/metrics", h.metrics),
        admin("/system/redis-health", h.redis_health, "GetRedisHealth"),
        admin("/queue/stats", h.stats, "GetQueueStats"),
        admin("/queue/pause", h.pause, "PauseQueue", "POST", "PauseQueue"),
        admin("/queue/resume", h.resume, "ResumeQueue", "POST", "ResumeQueue"),
        admin("/submissions", h.list_submissions, "ListSubmissions"),
        admin(
            "/submissions/retry-failed", h.retry_failed, "RetrySubmission", "POST", "RetryAllFailed"
        ),
        admin(
            "/submissions/cancel",
            h.cancel_matching,
            "CancelSubmission",
            "POST",
            "CancelMatching",
        ),
        admin("/submissions/{id}", h.get_submission, "GetSubmission"),
        admin("/submissions/{id}", h.delete, "DeleteSubmission", "DELETE", "DeleteSubmission"),
        admin("/submissions/{id}/retry", h.retry, "RetrySubmission", "POST", "RetrySubmission"),
        admin("/submissions/{id}/cancel", h.cancel, "CancelSubmission", "POST", "CancelSubmission"),
        admin("/fair-share", h.fair_share, "GetFairShare"),
        admin("/quotas/{key}", h.set_quota, "SetKeyQuota", "PUT", "SetKeyQuota"),
        admin("/quotas/{key}", h.reset_quota, "SetKeyQuota", "DELETE", "SetKeyQuota"),
        *dashboard.routes(),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.close()

    return Starlette(
        routes=routes,
        middleware=middleware(cors_origins),
        lifespan=lifespan,
        exception_handlers={
            404: _not_found,
            405: _method_not_allowed,
            500: _server_error,
        },
    )


def middleware(cors_origins: tuple[str, ...]) -> list[Middleware]:
    """The middleware stack, outermost first: security headers land on every answer, CORS's
    preflight answers included."""
    stack = [Middleware(SecurityHeaders)]
    if cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "PUT", "DELETE"],
                allow_headers=["authorization", "content-type"],
            )
        )
    return stack


class SecurityHeaders:
    """no-store, nosniff, the CSP and friends on every response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for key, value in SECURITY_HEADERS.items():
                    if key.lower().encode() not in names:
                        headers.append((key.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
