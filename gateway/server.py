"""Serve the gateway with uvicorn.

    fbq gateway [--host H] [--port P] [--insecure-no-auth]  |  python -m gateway

It refuses to start without FBQ_ADMIN_TOKEN or FBQ_CREDENTIALS_FILE (tokens with roles,
gateway/auth.py), unless --insecure-no-auth is given and it binds to loopback only. Slow and
idle connections are bounded (gateway/connections.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import logging
import sys

import uvicorn

from feedback_queue import logs
from feedback_queue.credentials import Credentials
from feedback_queue.errors import ConfigError
from feedback_queue.settings import Settings
from feedback_queue.tracing import start as start_tracing
from gateway import connections
from gateway.app import create_app
from gateway.client import IngestClient

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `fbq gateway` and `python -m gateway`."""
    parser.add_argument(
        "--host", help=f"address to bind (default FBQ_GATEWAY_HOST, {Settings.gateway_host})"
    )
    parser.add_argument(
        "--port", type=int, help=f"port (default FBQ_GATEWAY_PORT, {Settings.gateway_port})"
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve the admin API without a token (loopback only)",
    )


def apply_arguments(settings: Settings, args: argparse.Namespace) -> Settings:
    """`settings` with the address given by --host and --port."""
    return dataclasses.replace(
        settings,
        gateway_host=args.host or settings.gateway_host,
        gateway_port=settings.gateway_port if args.port is None else args.port,
    )


def run(settings: Settings, *, insecure_no_auth: bool = False) -> None:
    """Serve until stopped (`fbq gateway`, `python -m gateway`)."""
    host, port = settings.gateway_host, settings.gateway_port
    token = settings.admin_token
    try:
        credentials = (
            Credentials.load(settings.credentials_file) if settings.credentials_file else None
        )
    except ConfigError as exc:
        sys.exit(f"fbq gateway: {exc}")
    if not token and not credentials:
        if not insecure_no_auth:
            sys.exit(
                "fbq gateway: FBQ_ADMIN_TOKEN is not set; set it (the admin API needs a token) "
                "or FBQ_CREDENTIALS_FILE (tokens with roles), or pass --insecure-no-auth with "
                "--host 127.0.0.1 for a local trial"
            )
        if not is_loopback(host):
            sys.exit(f"fbq gateway: --insecure-no-auth only binds to loopback, not {host}")
    logs.configure(settings.log_level, settings.secrets())
    if not token and not credentials:
        log.warning("the admin API has NO authentication (--insecure-no-auth, loopback only)")
    tls = settings.tls
    if tls.cert is None and not is_loopback(host):
        log.warning(
            "serving plain HTTP on %s: the admin token crosses the network in clear; set "
            "FBQ_TLS_CERT and FBQ_TLS_KEY for HTTPS, or terminate TLS in front of the gateway",
            host,
        )
    try:
        traced = start_tracing(settings.tracing, "fbq-gateway")
    except ConfigError as exc:
        sys.exit(f"fbq gateway: {exc}")
    client = IngestClient(
        settings.ingest_addr, settings.rpc_deadline, settings.grpc_token, tls, traced is not None
    )
    app = create_app(
        client, token=token, cors_origins=settings.cors_origins, credentials=credentials
    )
    limits = settings.gateway_limits
    cap = connections.fit_open_files(limits)
    if cap < limits.max_connections:
        log.warning(
            "FBQ_GATEWAY_MAX_CONNECTIONS=%d does not fit the open-file limit (ulimit -n): "
            "at most %d connections",
            limits.max_connections,
            cap,
        )
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=connections.guarded_protocol(limits, cap),
        timeout_keep_alive=max(1, round(limits.idle_timeout)),
        backlog=connections.BACKLOG,
        log_level=settings.log_level.lower(),
        log_config=None,  # our logging (and its masking of secrets), not uvicorn's own
        access_log=False,
        server_header=False,
        ssl_certfile=tls.cert,
        ssl_keyfile=tls.key,
    )
    if traced is not None:
        traced.shutdown()  # sends the spans still batched
