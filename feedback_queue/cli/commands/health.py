"""fbq health: the grpc.health.v1 Check a Kubernetes probe makes, usable as an exec probe.

Exit 0 when the service is SERVING, 1 for anything else (NOT_SERVING, an unknown service,
unreachable, no answer in time), with a one-line reason. Health needs no token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feedback_queue import tls
from feedback_queue.cli.commands.output import Output
from feedback_queue.settings import Settings, TlsSettings

SERVING = "SERVING"


@dataclass(frozen=True)
class Verdict:
    address: str
    service: str
    # A ServingStatus name, or UNREACHABLE, TIMEOUT, SERVICE_UNKNOWN, UNIMPLEMENTED, ERROR.
    status: str
    reason: str = ""

    @property
    def serving(self) -> bool:
        return self.status == SERVING


async def check(
    address: str, service: str, deadline: float, tls_settings: TlsSettings | None = None
) -> Verdict:
    """One Check call; every outcome is a verdict, never an exception."""
    async with tls.aio_channel(address, tls_settings or TlsSettings()) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=service)
        try:
            reply = await stub.Check(request, timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            return failed(address, service, deadline, exc)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if status == SERVING:
        return Verdict(address, service, status)
    return Verdict(address, service, status, f"{address}: {named(service)} is {status}")


def failed(address: str, service: str, timeout: float, exc: grpc.aio.AioRpcError) -> Verdict:
    code = exc.code()
    details = exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        hint = tls.explain(details)
        if hint:
            return Verdict(address, service, "UNREACHABLE", f"cannot reach {address}: {hint}")
        cause = details.rsplit(": ", 1)[-1] or "unavailable"
        return Verdict(address, service, "UNREACHABLE", f"cannot reach {address} ({cause})")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        reason = f"{address} did not answer within {timeout:g}s"
        return Verdict(address, service, "TIMEOUT", reason)
    if code == grpc.StatusCode.NOT_FOUND:
        reason = f"{address} does not know {named(service)}"
        return Verdict(address, service, "SERVICE_UNKNOWN", reason)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        reason = f"{address} does not serve grpc.health.v1"
        return Verdict(address, service, "UNIMPLEMENTED", reason)
    return Verdict(address, service, "ERROR", f"{address}: {code.name}: {details}")


def named(service: str) -> str:
    return f"service {json.dumps(service)}"


def health(args: argparse.Namespace) -> int:
    """fbq health [ADDR] [--service NAME] [--timeout SECONDS]."""
    settings = Settings.from_env(os.environ)
    address = args.address or settings.ingest_addr
    verdict = asyncio.run(check(address, args.service, args.timeout, settings.tls))
    out = Output(json_mode=args.json)
    if out.json_mode:
        out.data(
            {
                "address": verdict.address,
                "service": verdict.service,
                "status": verdict.status,
                "serving": verdict.serving,
                "reason": verdict.reason or None,
            }
        )
    elif verdict.serving:
        out.line(SERVING)
    else:
        out.note(f"fbq: error: {verdict.reason}")
    return 0 if verdict.serving else 1
