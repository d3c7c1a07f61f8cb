"""Redis clients built from settings, and the translation of redis-py errors into ours.

redis-py 6 and later retry every command three times on connection errors and timeouts by
default. That is unsafe for a queue without knowing which commands are replay-safe, and it hides
outages from the caller's own retry policy. So our clients retry nothing at this level
(`Retry(NoBackoff(), 0)`): each caller retries with tenacity, knowing what a replay means. Every
script is written to be replay-safe or to leave only recoverable state (see the scripts' headers).

`socket_timeout` must exceed the longest blocking call: BLPOP waits `block_timeout` seconds at
most, far below the default socket timeout, so a quiet queue never looks like a dead socket.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import redis.exceptions as rex
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import NoBackoff

from feedback_queue.errors import (
    OutOfMemory,
    QueueAuthError,
    QueueError,
    QueueMisconfigured,
    QueueUnavailable,
)
from feedback_queue.settings import RedisSettings


def client_kwargs(rs: RedisSettings) -> dict[str, Any]:
    """Keyword arguments for a redis-py client (sync or asyncio) from our settings."""
    kwargs: dict[str, Any] = {
        "db": rs.db,
        "username": rs.username,
        "password": rs.password,
        "socket_connect_timeout": rs.connect_timeout,
        "socket_timeout": rs.socket_timeout,
        "health_check_interval": 30,
        "client_name": "feedback-queue",
        # No CLIENT SETINFO at connect: least-privilege ACL users (deploy/redis) need not allow
        # it, and Redis 7.0 does not know it.
        "driver_info": None,
    }
    if rs.unix_socket:
        kwargs["unix_socket_path"] = rs.unix_socket
        return kwargs
    kwargs.update(host=rs.host, port=rs.port, socket_keepalive=True)
    if rs.tls:
        kwargs.update(
            ssl=True,
            ssl_ca_certs=rs.tls_ca_cert,
            ssl_certfile=rs.tls_cert,
            ssl_keyfile=rs.tls_key,
            ssl_cert_reqs=ssl.CERT_REQUIRED if rs.tls_verify else ssl.CERT_NONE,
            ssl_check_hostname=rs.tls_verify,
        )
    return kwargs


class SentinelManagedRedis(Redis):
    """The master's client, which also closes its connections to the sentinels."""

    sentinel_group: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for client in self.sentinel_group.sentinels if self.sentinel_group else ():
            await client.aclose()


def create_client(
    rs: RedisSettings, *, max_connections: int | None = None, pool_timeout: float = 5.0
) -> Redis:
    """An asyncio client that returns bytes and leaves retrying to the caller.

    With `max_connections`, a single server's pool holds at most that many connections and a
    command waits up to `pool_timeout` seconds for a free one (then QueueUnavailable).

    With sentinels, the client asks them for the master at each new connection: after a
    failover, the connections to the old master fail (our callers retry) and new ones go to
    the new master. TLS files that cannot be loaded raise QueueMisconfigured here, at once.
    """
    if rs.tls:
        check_tls_files(rs)
    if rs.cluster:
        kwargs = client_kwargs(rs)
        for name in ("db", "health_check_interval"):  # one database; no per-connection checks
            kwargs.pop(name, None)
        # The queue uses the same commands on both; keyless ones it routes itself (Queue.node).
        return cast(
            Redis,
            RedisCluster(
                retry=Retry(NoBackoff(), 0), max_connections=max_connections or 100, **kwargs
            ),
        )
    if rs.sentinels:
        kwargs = client_kwargs(rs)
        for name in ("host", "port"):
            kwargs.pop(name, None)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            list(rs.sentinels),
            sentinel_kwargs={
                "password": rs.sentinel_password,
                "socket_connect_timeout": rs.connect_timeout,
                "socket_timeout": rs.connect_timeout,
                "retry": Retry(NoBackoff(), 0),
            },
        )
        master: SentinelManagedRedis = sentinel.master_for(
            rs.sentinel_master or "mymaster",
            redis_class=SentinelManagedRedis,
            retry=Retry(NoBackoff(), 0),
            max_connections=max_connections,
            **kwargs,
        )
        master.sentinel_group = sentinel
        return master
    client = Redis(**client_kwargs(rs), retry=Retry(NoBackoff(), 0))
    if max_connections is None:
        return client
    # The same connections in a pool that waits up to `pool_timeout` for a free one, where
    # redis-py's default pool raises at once when all are in use.
    pool = client.connection_pool
    blocking = BlockingConnectionPool(
        connection_class=pool.connection_class,
        max_connections=max_connections,
        timeout=pool_timeout,
        **pool.connection_kwargs,
    )
    return Redis.from_pool(blocking)


def check_tls_files(rs: RedisSettings) -> None:
    """Raise QueueMisconfigured, naming the variable, unless redis-py can load the TLS files.

    redis-py loads them only when it connects, and its error then names neither the file nor
    the variable ("Error 2 connecting to host:port. No such file or directory").
    """
    files = (
        ("REDIS_TLS_CA_CERT", rs.tls_ca_cert),
        ("REDIS_TLS_CERT", rs.tls_cert),
        ("REDIS_TLS_KEY", rs.tls_key),
    )
    for variable, path in files:
        if path:
            try:
                Path(path).read_bytes()
            except OSError as exc:
                raise QueueMisconfigured(
                    f"{variable}: cannot read {path} ({exc.strerror or type(exc).__name__}): "
                    "set it to a readable PEM file"
                ) from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if rs.tls_ca_cert:
        try:
            context.load_verify_locations(rs.tls_ca_cert)
        except ssl.SSLError as exc:
            raise QueueMisconfigured(
                f"REDIS_TLS_CA_CERT: {rs.tls_ca_cert} holds no usable CA certificate ({exc}): "
                "set it to the PEM certificate of the CA that signed the server's certificate"
            ) from None
    if rs.tls_cert:
        try:
            # A password callback, so that an encrypted key fails here instead of prompting.
            context.load_cert_chain(rs.tls_cert, rs.tls_key, password=lambda: b"")
        except ssl.SSLError as exc:
            raise QueueMisconfigured(
                f"REDIS_TLS_CERT and REDIS_TLS_KEY ({rs.tls_cert}, {rs.tls_key or 'no key file'}) "
                f"are not a PEM certificate and its unencrypted private key ({exc}): set them to "
                "the client certificate and its key"
            ) from None


def translate(exc: rex.RedisError, address: str) -> QueueError:
    """Our error for a redis-py error: what happened, and what to check."""
    text = str(exc)
    if isinstance(exc, rex.AuthenticationError) or text.startswith(("WRONGPASS", "NOAUTH")):
        return QueueAuthError(
            f"Redis at {address} refused the credentials: check REDIS_PASSWORD and "
            "REDIS_USERNAME (or the user:password part of REDIS_URL)"
        )
    # A command a script runs is refused with an ERR naming the script, not NOPERM.
    if (
        isinstance(exc, rex.NoPermissionError)
        or text.startswith("NOPERM")
        or "executing the script can't run this command" in text
        or "no permissions to access one of the keys" in text
    ):
        return QueueAuthError(
            f"the Redis user at {address} lacks a permission the queue needs "
            f"({_first_line(text)}): check the ACL of REDIS_USERNAME"
        )
    if isinstance(exc, rex.BusyLoadingError) or text.startswith("LOADING"):
        return QueueUnavailable(f"Redis at {address} is loading its data set; retry shortly")
    if isinstance(exc, rex.ReadOnlyError) or text.startswith("READONLY"):
        return QueueUnavailable(
            f"Redis at {address} is a read-only replica (failover under way?); retry shortly"
        )
    # BUSY has no class of its own in redis-py: a plain ResponseError that keeps its prefix.
    if text.startswith("BUSY "):
        return QueueUnavailable(
            f"Redis at {address} is busy running a script or function past "
            "busy-reply-threshold; retry shortly, or check for a runaway script (SCRIPT KILL)"
        )
    # MasterDownError is a ClusterDownError; redis-py strips the prefix of both, and of TRYAGAIN.
    if isinstance(exc, rex.MasterDownError) or text.startswith("MASTERDOWN"):
        return QueueUnavailable(
            f"Redis at {address} is a replica that lost its master ({_first_line(text)}): a "
            "failover may be under way; retry shortly"
        )
    if isinstance(exc, rex.ClusterError | rex.TryAgainError) or text.startswith(
        ("CLUSTERDOWN", "TRYAGAIN")
    ):
        return QueueUnavailable(
            f"the Redis Cluster at {address} cannot serve the queue's slot right now "
            f"({_first_line(text)}): resharding or a failover may be under way; retry shortly"
        )
    if isinstance(exc, MasterNotFoundError):
        return QueueUnavailable(
            f"the sentinels of {address} name no reachable master ({_first_line(text)}): a "
            "failover may be under way; else check REDIS_URL or FBQ_SENTINEL_HOSTS and "
            "FBQ_SENTINEL_MASTER"
        )
    if isinstance(exc, rex.ConnectionError) and (
        refusal := _busy_pool(exc, address) or _untrusted_server(exc, address)
    ):
        return refusal
    if isinstance(exc, rex.ConnectionError | rex.TimeoutError) and _is_tls(text):
        return QueueUnavailable(
            f"the TLS handshake with Redis at {address} failed ({_first_line(text)}): check "
            "REDIS_TLS_CA_CERT (the CA of the server's certificate), REDIS_TLS_CERT and "
            "REDIS_TLS_KEY (a client certificate the server accepts, not expired)"
        )
    if isinstance(exc, rex.ConnectionError | rex.TimeoutError):
        # Under TLS 1.3 a server that refuses the client certificate just drops the connection.
        tls_hint = (
            "; over TLS also REDIS_TLS_CA_CERT, REDIS_TLS_CERT and REDIS_TLS_KEY (the server "
            "may have refused the client certificate)"
            if address.startswith("rediss://")
            else ""
        )
        return QueueUnavailable(
            f"cannot reach Redis at {address} ({_first_line(text) or type(exc).__name__}): is it "
            f"running there? check REDIS_URL, or REDIS_HOST and REDIS_PORT{tls_hint}"
        )
    # redis-py strips the OOM prefix when it picks OutOfMemoryError (as Redis 7 replies).
    if isinstance(exc, rex.OutOfMemoryError) or "command not allowed when used memory" in text:
        return OutOfMemory(
            "Redis is out of memory (maxmemory reached): nothing was accepted; free memory or "
            "raise maxmemory"
        )
    return QueueError(f"Redis at {address} answered an error: {_first_line(text)}")


@asynccontextmanager
async def translated(address: str) -> AsyncIterator[None]:
    """Re-raise redis-py errors raised inside as our errors (without the redis-py chain)."""
    try:
        yield
    except rex.RedisError as exc:
        raise translate(exc, address) from None
    except OSError as exc:  # e.g. a TLS handshake failure surfaces as ssl.SSLError
        if refusal := _untrusted_server(exc, address):
            raise refusal from None
        raise QueueUnavailable(
            f"cannot reach Redis at {address} ({exc.__class__.__name__}: {exc}): check REDIS_URL "
            "and REDIS_TLS_CA_CERT, REDIS_TLS_CERT, REDIS_TLS_KEY"
        ) from None


def _busy_pool(exc: rex.ConnectionError, address: str) -> QueueUnavailable | None:
    """The error for a pool whose connections all stayed in use, if that is what `exc` is."""
    text = str(exc)
    if not isinstance(exc, rex.MaxConnectionsError) and not text.startswith(
        "No connection available"
    ):
        return None
    return QueueUnavailable(
        f"every connection of the pool to Redis at {address} stayed busy ({_first_line(text)}): "
        "the process is overloaded, or Redis is slow; else raise FBQ_REDIS_MAX_CONNECTIONS or "
        "FBQ_REDIS_POOL_TIMEOUT"
    )


def _untrusted_server(exc: BaseException, address: str) -> QueueMisconfigured | None:
    """The error for a server certificate that failed verification, if that is what `exc` is.

    redis-py wraps the ssl.SSLCertVerificationError in its ConnectionError (as the context).
    Waiting will not make the certificate trusted, so it is QueueMisconfigured.
    """
    verify = exc if isinstance(exc, ssl.SSLCertVerificationError) else exc.__context__
    if not isinstance(verify, ssl.SSLCertVerificationError):
        if "certificate verify failed" not in str(exc).lower():
            return None
        verify = None
    reason = (verify and verify.verify_message) or _first_line(str(exc))
    return QueueMisconfigured(
        f"the certificate of Redis at {address} failed verification ({reason}): set "
        "REDIS_TLS_CA_CERT to the CA that signed it, and reach the server by a host name "
        "the certificate names (REDIS_URL or REDIS_HOST)"
    )


def _is_tls(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in ("ssl", "certificate", "tlsv1", "handshake"))


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""
