"""gRPC over TLS and mutual TLS: ingest and the worker's health server serve it, the CLI calls
with the matching FBQ_TLS_* settings; the wrong material fails with a clear, one-line error."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from feedback_queue.settings import QueueConfig, Settings, TlsSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.cli.conftest import Fbq, client_env, fbq  # noqa: F401  (shared fixtures)
from tests.conftest import redis_settings
from tests.ingest.conftest import StartIngest, start_ingest  # noqa: F401  (shared fixture)
from tests.secrets import secret, seen
from tests.security.certs import Material
from worker_service.server import serve

TOKEN = secret("grpc-tls-token-0c4f")


def serving(material: Material, *, mutual: bool = False) -> TlsSettings:
    return TlsSettings(
        cert=str(material.server.cert),
        key=str(material.server.key),
        client_ca=str(material.ca.path) if mutual else None,
    )


def calling(
    monkeypatch: pytest.MonkeyPatch, ca: object = None, cert: object = None, key: object = None
) -> None:
    for name, value in (("FBQ_TLS_CA", ca), ("FBQ_TLS_CLIENT_CERT", cert)):
        if value is not None:
            monkeypatch.setenv(name, str(value))
    if key is not None:
        monkeypatch.setenv("FBQ_TLS_CLIENT_KEY", str(key))


async def stats(fbq: Fbq, port: int) -> tuple[int, str]:  # noqa: F811
    result = await fbq("stats", "--json", "--addr", f"127.0.0.1:{port}")
    seen(result.out + result.err)
    return result.code, result.err


async def test_tls_with_the_right_ca_works_and_without_it_fails(
    start_ingest: StartIngest,  # noqa: F811
    fbq: Fbq,  # noqa: F811
    material: Material,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingest = await start_ingest(tls=serving(material))
    code, err = await stats(fbq, ingest.server.port)  # plain text to a TLS server
    assert code == 1
    assert "cannot reach ingest" in err
    calling(monkeypatch, ca=material.other_ca.path)
    code, err = await stats(fbq, ingest.server.port)
    assert code == 1
    assert "TLS handshake failed: check FBQ_TLS_CA" in err
    assert "Traceback" not in err
    calling(monkeypatch, ca=material.ca.path)
    assert await stats(fbq, ingest.server.port) == (0, "")


@pytest.mark.parametrize(
    ("case", "pair"), [("none", None), ("expired", "expired"), ("another CA", "stranger")]
)
async def test_mutual_tls_refuses_a_missing_expired_or_foreign_client_certificate(
    start_ingest: StartIngest,  # noqa: F811
    fbq: Fbq,  # noqa: F811
    material: Material,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    pair: str | None,
) -> None:
    ingest = await start_ingest(tls=serving(material, mutual=True))
    bad = {"expired": material.expired_client, "stranger": material.stranger_client}.get(pair or "")
    calling(
        monkeypatch,
        ca=material.ca.path,
        cert=bad.cert if bad else None,
        key=bad.key if bad else None,
    )
    code, err = await stats(fbq, ingest.server.port)
    assert code == 1, case
    assert err.startswith("fbq: error: cannot reach ingest"), case
    assert "FBQ_TLS_CLIENT_CERT" in err, case
    assert "Traceback" not in err


async def test_mutual_tls_with_a_good_client_certificate_and_the_token(
    start_ingest: StartIngest,  # noqa: F811
    fbq: Fbq,  # noqa: F811
    material: Material,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingest = await start_ingest(tls=serving(material, mutual=True), grpc_token=TOKEN)
    calling(monkeypatch, ca=material.ca.path, cert=material.client.cert, key=material.client.key)
    code, err = await stats(fbq, ingest.server.port)
    assert code == 1
    assert "needs a token: set FBQ_GRPC_TOKEN" in err  # TLS passed; the token is still asked
    monkeypatch.setenv("FBQ_GRPC_TOKEN", TOKEN)
    assert await stats(fbq, ingest.server.port) == (0, "")


async def test_the_worker_health_server_speaks_tls(
    fbq: Fbq,  # noqa: F811
    material: Material,
    monkeypatch: pytest.MonkeyPatch,
    redis_server: EmbeddedRedis,
) -> None:
    settings = dataclasses.replace(
        Settings(),
        redis=redis_settings(redis_server),
        queue=QueueConfig(name="tls-worker"),
        worker_health_port=free_port(),
        tls=serving(material, mutual=True),
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, stop=stop))
    address = f"127.0.0.1:{settings.worker_health_port}"
    try:
        calling(monkeypatch, ca=material.ca.path)  # no client certificate
        refused = await fbq("health", address, "--service", "liveness", "--timeout", "5")
        assert refused.code == 1
        calling(
            monkeypatch, ca=material.ca.path, cert=material.client.cert, key=material.client.key
        )
        while (await fbq("health", address, "--service", "readiness")).code != 0:
            assert not worker.done()  # the worker registers on its own; ask again
        assert (await fbq("health", address, "--service", "liveness")).code == 0
    finally:
        stop.set()
        await worker
