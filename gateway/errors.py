"""The one mapping of gRPC status codes to HTTP, and problem-details responses (RFC 9457)."""

from __future__ import annotations

import grpc
from starlette.responses import JSONResponse

HTTP_FOR = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    # The gateway's own credentials toward ingest are wrong: not the caller's fault.
    grpc.StatusCode.UNAUTHENTICATED: 502,
    grpc.StatusCode.PERMISSION_DENIED: 502,
}
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    429: "Too many requests",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_FOR.get(code, 502)


def problem(
    status: int, detail: str, headers: dict[str, str] | None = None, *, reason: str = ""
) -> JSONResponse:
    """A problem-details body; `detail` must never carry a secret or a stack trace. A `reason`
    (e.g. ROLE_FORBIDS) is a machine-readable extension member."""
    body: dict[str, object] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if reason:
        body["reason"] = reason
    return JSONResponse(
        body,
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def from_rpc_error(error: grpc.aio.AioRpcError, address: str) -> JSONResponse:
    status = http_status(error.code())
    if status == 503:
        detail = f"the ingest service at {address} is unavailable: {error.details()}"
    elif status == 504:
        detail = f"the ingest service at {address} did not answer in time"
    elif error.code() == grpc.StatusCode.UNAUTHENTICATED:
        detail = "the ingest service refused the gateway's token: check FBQ_GRPC_TOKEN"
    else:
        detail = error.details() or error.code().name
    return problem(status, detail)
