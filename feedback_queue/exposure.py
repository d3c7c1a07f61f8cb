"""Secure by default: a service that answers beyond loopback needs credentials (#21).

Ingest listening on anything but a loopback address refuses to start with no credential at all
(no FBQ_CREDENTIALS_FILE, no FBQ_GRPC_TOKEN, no mutual TLS), naming the variables, unless
FBQ_INSECURE=1 says so on purpose; it then warns loudly. The worker's health server is exempt:
it serves grpc.health.v1 alone, which Kubernetes probes call without credentials, and no data.
The gateway has its own rule (it needs FBQ_ADMIN_TOKEN, or --insecure-no-auth on loopback).
"""

from __future__ import annotations

import ipaddress
import logging

from feedback_queue.errors import ConfigError
from feedback_queue.settings import Settings

log = logging.getLogger(__name__)

NO_CREDENTIALS = (
    "ingest would listen on {host} with no credentials: anyone who reaches it could read every "
    "submission, delete and pause. Set FBQ_CREDENTIALS_FILE (fbq credentials add NAME --role "
    "ROLE writes it) or FBQ_GRPC_TOKEN, or FBQ_INGEST_HOST=127.0.0.1; FBQ_INSECURE=1 allows it"
)


def is_loopback(host: str) -> bool:
    """Whether `host` (a bind address, maybe bracketed) only answers this machine."""
    bare = host.strip("[]")
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def has_credentials(settings: Settings) -> bool:
    """Whether ingest knows who calls: a credentials file, the gRPC token, or mutual TLS."""
    return bool(settings.credentials_file or settings.grpc_token or settings.tls.client_ca)


def check_ingest(settings: Settings) -> None:
    """Raise ConfigError when ingest would answer beyond loopback with no credential; warn
    when FBQ_INSECURE=1 lets it."""
    host = settings.ingest_host
    if has_credentials(settings) or is_loopback(host):
        return
    if not settings.insecure:
        raise ConfigError(NO_CREDENTIALS.format(host=host))
    log.warning(
        "INSECURE (FBQ_INSECURE=1): ingest listens on %s with no credentials; anyone who "
        "reaches it may read every submission, delete and pause",
        host,
    )
