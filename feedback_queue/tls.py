"""gRPC over TLS: credentials from TlsSettings, for servers (ingest, worker health) and callers.

Files are read once, when a server or channel is built; a missing or unreadable file is a
ConfigError naming the variable, so a service stops at start instead of serving in plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from feedback_queue.errors import ConfigError
from feedback_queue.settings import TlsSettings

ChannelOptions = Sequence[tuple[str, int | str]]


def read_pem(path: str, variable: str) -> bytes:
    """The bytes of a PEM file named by `variable`."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path} ({exc.strerror})") from None


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials | None:
    """TLS for a server, with client certificates required when FBQ_TLS_CLIENT_CA is set."""
    if tls.cert is None or tls.key is None:
        return None
    pair = (read_pem(tls.key, "FBQ_TLS_KEY"), read_pem(tls.cert, "FBQ_TLS_CERT"))
    client_ca = read_pem(tls.client_ca, "FBQ_TLS_CLIENT_CA") if tls.client_ca else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def add_port(server: grpc.aio.Server, address: str, tls: TlsSettings) -> int:
    """Listen on `address`, over TLS when a certificate is configured; the bound port."""
    credentials = server_credentials(tls)
    if credentials is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, credentials)


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials | None:
    """TLS for a caller: verify with FBQ_TLS_CA (else the system's roots), present a client
    certificate when FBQ_TLS_CLIENT_CERT is set; None when neither is configured."""
    if not tls.calling:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=read_pem(tls.ca, "FBQ_TLS_CA") if tls.ca else None,
        private_key=read_pem(tls.client_key, "FBQ_TLS_CLIENT_KEY") if tls.client_key else None,
        certificate_chain=(
            read_pem(tls.client_cert, "FBQ_TLS_CLIENT_CERT") if tls.client_cert else None
        ),
    )


def aio_channel(
    address: str,
    tls: TlsSettings,
    options: ChannelOptions = (),
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """An asyncio channel to `address`, over TLS when the settings ask for it; `interceptors`
    (the trace's client spans, tracing.py) see every call."""
    credentials = channel_credentials(tls)
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)


def sync_channel(address: str, tls: TlsSettings, options: ChannelOptions = ()) -> grpc.Channel:
    """A blocking channel (fbq up's probes, the sync client), over TLS when the settings ask."""
    credentials = channel_credentials(tls)
    if credentials is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, credentials, options=options)


def explain(details: str) -> str | None:
    """A hint naming the variables to check when a call failed in the TLS handshake."""
    lowered = details.lower()
    if not any(w in lowered for w in ("ssl", "tls", "handshake", "certificate")):
        return None
    return (
        "the TLS handshake failed: check FBQ_TLS_CA (the CA that signed the server's "
        "certificate) and, for mutual TLS, FBQ_TLS_CLIENT_CERT and FBQ_TLS_CLIENT_KEY"
    )
