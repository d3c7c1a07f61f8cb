"""Settings.from_env: the seed's Redis variables, FBQ_* values, errors naming the variable."""

from __future__ import annotations

import pytest

from feedback_queue.errors import ConfigError
from feedback_queue.settings import Rate, RedisSettings, Settings
from tests.secrets import secret


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.redis == RedisSettings()
    assert not s.redis.configured
    assert s.redis.address == "redis://localhost:6379/0"
    assert (s.queue.name, s.ingest_port, s.worker_health_port, s.gateway_port) == (
        "submissions",
        50051,
        50052,
        8080,
    )
    assert (s.worker.concurrency, s.queue.max_attempts, s.queue.heartbeat_grace) == (16, 5, 15.0)
    assert s.queue.rate_limit is None
    assert s.queue.limits.max_content_bytes == 256 * 1024
    assert (s.queue.fairness.guard, s.queue.fairness.quantum) == (20, 4)
    tuned = Settings.from_env({"FBQ_PRIORITY_GUARD": "50", "FBQ_FAIR_QUANTUM": "1"})
    assert (tuned.queue.fairness.guard, tuned.queue.fairness.quantum) == (50, 1)


def test_components() -> None:
    s = Settings.from_env(
        {
            "REDIS_HOST": "cache.internal",
            "REDIS_PORT": "6380",
            "REDIS_PASSWORD": "s3cret pass ",
            "REDIS_USERNAME": "ingest",
            "REDIS_DB": "2",
        }
    )
    assert (s.redis.host, s.redis.port, s.redis.db, s.redis.username) == (
        "cache.internal",
        6380,
        2,
        "ingest",
    )
    assert s.redis.password == "s3cret pass "  # secrets keep their exact bytes
    assert s.redis.configured
    assert not s.redis.tls


def test_url_wins_over_components() -> None:
    s = Settings.from_env(
        {
            "REDIS_URL": "rediss://worker:p%40ss@redis.example:6390/3",
            "REDIS_HOST": "ignored",
            "REDIS_PASSWORD": "ignored",
        }
    )
    r = s.redis
    assert (r.host, r.port, r.db, r.username, r.password, r.tls) == (
        "redis.example",
        6390,
        3,
        "worker",
        "p@ss",
        True,
    )
    assert r.address == "rediss://redis.example:6390/3"


def test_unix_url() -> None:
    r = Settings.from_env({"REDIS_URL": "unix:///run/redis.sock?db=4"}).redis
    assert (r.unix_socket, r.db) == ("/run/redis.sock", 4)
    assert r.address == "unix:///run/redis.sock"


def test_secrets_never_show() -> None:
    s = Settings.from_env(
        {
            "REDIS_URL": "redis://u:hunter2hunter2@h:1/0",
            "FBQ_ADMIN_TOKEN": secret("tok-admin-123"),
            "FBQ_GRPC_TOKEN": secret("tok-grpc-456"),
        }
    )
    text = repr(s) + str(s) + s.redis.address
    for value in ("hunter2hunter2", "tok-admin-123", "tok-grpc-456"):
        assert value not in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": "http://h:1"}, "REDIS_URL: scheme must be"),
        ({"REDIS_URL": "redis://u:topsecret@h:port/0"}, "REDIS_URL: not a valid URL"),
        ({"REDIS_URL": "redis://h:1/x"}, "REDIS_URL: the database must be a number"),
        ({"REDIS_PORT": "sixty"}, "REDIS_PORT: expected a whole number"),
        ({"REDIS_PORT": "70000"}, "REDIS_PORT: must be at most 65535"),
        ({"REDIS_DB": "-1"}, "REDIS_DB: must be at least 0"),
        ({"FBQ_CONCURRENCY": "0"}, "FBQ_CONCURRENCY: must be at least 1"),
        ({"FBQ_RATE_LIMIT": "fast"}, "FBQ_RATE_LIMIT: expected a rate"),
        ({"FBQ_JOB_TIMEOUT": "soon"}, "FBQ_JOB_TIMEOUT: expected a duration"),
        ({"FBQ_QUEUE": "a{b}"}, "FBQ_QUEUE: expected 1-64"),
        ({"FBQ_BACKOFF_BASE": "10s", "FBQ_BACKOFF_MAX": "5s"}, "FBQ_BACKOFF_MAX"),
        ({"REDIS_TLS_VERIFY": "maybe"}, "REDIS_TLS_VERIFY: expected true or false"),
        ({"FBQ_PRIORITY_GUARD": "1"}, "FBQ_PRIORITY_GUARD: must be at least 2"),
        ({"FBQ_FAIR_QUANTUM": "0"}, "FBQ_FAIR_QUANTUM: must be at least 1"),
        ({"FBQ_FAIR_QUANTUM": "1001"}, "FBQ_FAIR_QUANTUM: must be at most 1000"),
        ({"FBQ_REDIS_CPU_WARNING": "80%"}, "FBQ_REDIS_CPU_WARNING: expected a number"),
        ({"FBQ_REDIS_CPU_WARNING": "0.01"}, "FBQ_REDIS_CPU_WARNING: must be at least 0.05"),
        ({"FBQ_REDIS_CPU_WARNING": "80"}, "FBQ_REDIS_CPU_WARNING: must be at most 1"),
        ({"FBQ_REDIS_CPU_WARNING": "nan"}, "FBQ_REDIS_CPU_WARNING: must be at least"),
        ({"FBQ_CANCEL_CHECK": "0"}, "FBQ_CANCEL_CHECK: must be more than zero"),
        ({"FBQ_CANCEL_GRACE": "later"}, "FBQ_CANCEL_GRACE: expected a duration"),
        ({"FBQ_PROGRESS_INTERVAL": "-1s"}, "FBQ_PROGRESS_INTERVAL"),
        ({"FBQ_MAX_PROGRESS_BYTES": "2000000"}, "FBQ_MAX_PROGRESS_BYTES: must be at most"),
        ({"FBQ_WORKER_METRICS_PORT": "70000"}, "FBQ_WORKER_METRICS_PORT: must be at most 65535"),
        ({"FBQ_METRICS_KINDS": "0"}, "FBQ_METRICS_KINDS: must be at least 1"),
        ({"FBQ_METRICS_KINDS": "1001"}, "FBQ_METRICS_KINDS: must be at most 1000"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "maybe"},
            "OTEL_SDK_DISABLED",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Settings.from_env(env)
    assert "topsecret" not in str(info.value)


def test_the_redis_cpu_warning_is_a_fraction_of_one_core() -> None:
    assert Settings.from_env({}).redis_cpu_warning == 0.8
    assert Settings.from_env({"FBQ_REDIS_CPU_WARNING": "0.5"}).redis_cpu_warning == 0.5


def test_durations_and_rates() -> None:
    s = Settings.from_env(
        {
            "FBQ_JOB_TIMEOUT": "500ms",
            "FBQ_HEARTBEAT_GRACE": "1m",
            "FBQ_RETENTION": "7d",
            "FBQ_BACKOFF_BASE": "2",
            "FBQ_RATE_LIMIT": "500/s",
            "FBQ_SUBMITTER_RATE": "60 / m",
            "FBQ_KINDS": "essay, code ,",
        }
    )
    q = s.queue
    assert (s.worker.job_timeout, q.heartbeat_grace, q.retention, q.backoff.base) == (
        0.5,
        60.0,
        7 * 86400.0,
        2.0,
    )
    assert s.queue.rate_limit == Rate(500, 1.0)
    assert s.queue.submitter_rate == Rate(60, 60.0)
    assert Rate.parse("10/5s", name="X") == Rate(10, 5.0)
    assert s.queue.limits.kinds == frozenset({"essay", "code"})


def test_empty_values_count_as_unset() -> None:
    s = Settings.from_env({"REDIS_URL": "", "REDIS_HOST": " ", "FBQ_CONCURRENCY": ""})
    assert not s.redis.configured
    assert s.worker.concurrency == 16


def test_a_progress_interval_the_lease_cannot_bridge_is_refused() -> None:
    with pytest.raises(ConfigError, match="FBQ_PROGRESS_INTERVAL: must be at most half"):
        Settings.from_env({"FBQ_PROGRESS_INTERVAL": "10s", "FBQ_HEARTBEAT_GRACE": "15s"})
    ok = Settings.from_env({"FBQ_PROGRESS_INTERVAL": "5s", "FBQ_HEARTBEAT_GRACE": "15s"})
    assert ok.worker.progress_interval == 5.0
