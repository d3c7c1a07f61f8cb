"""The redis-health report: each rule on made-up INFO, then the real thing."""

from __future__ import annotations

import pytest

from feedback_queue.connection import create_client
from feedback_queue.health import DEGRADED, HEALTHY, UNHEALTHY, assess, check, human_bytes
from feedback_queue.queue import Queue, QueueStats
from feedback_queue.redis_cpu import CpuSample, CpuSampler, retain
from feedback_queue.settings import QueueConfig, RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.conftest import redis_settings
from tests.helpers import submission

GOOD = {
    "redis_version": "7.2.4",
    "used_memory": 1_288_490_188,
    "maxmemory": 2_147_483_648,
    "total_system_memory": 25_000_000_000,
    "maxmemory_policy": "volatile-lru",
    "aof_enabled": 1,
    "aof_last_write_status": "ok",
    "rdb_last_bgsave_status": "ok",
    "rdb_last_save_time": 1_750_000_000,
    "rdb_changes_since_last_save": 3,
    "loading": 0,
    "role": "master",
    "redis_mode": "standalone",
    "connected_clients": 7,
    "keyspace_hits": 10,
    "keyspace_misses": 2,
}


def judge(latency: float = 1.0, **changes: object) -> tuple[str, list[str]]:
    report = assess({**GOOD, **changes}, latency, QueueStats())
    return report.status, list(report.warnings)


def test_healthy_report_has_the_seed_shape() -> None:
    report = assess(GOOD, 0.4, QueueStats(waiting=5, active=2, completed=1000, failed=10))
    assert report.status == HEALTHY
    assert report.warnings == ()
    message = report.to_proto()
    assert (message.status, message.connected, message.version) == ("healthy", True, "7.2.4")
    assert (message.memory_usage.used, message.memory_usage.total) == ("1.2GB", "2.0GB")
    assert message.memory_usage.percent_used == 60.0
    q = message.queue_stats
    assert (q.waiting, q.active, q.completed, q.failed) == (5, 2, 1000, 10)


@pytest.mark.parametrize(
    ("changes", "latency", "status", "warning"),
    [
        ({"maxmemory_policy": "allkeys-lru"}, 1.0, DEGRADED, "could be evicted"),
        ({"used_memory": 2_000_000_000}, 1.0, DEGRADED, "93.1% of maxmemory"),
        ({"used_memory": 2_147_483_648}, 1.0, UNHEALTHY, "memory is full"),
        ({"aof_enabled": 0}, 1.0, DEGRADED, "AOF is off"),
        ({"aof_last_write_status": "err"}, 1.0, UNHEALTHY, "AOF write failed"),
        ({"rdb_last_bgsave_status": "err"}, 1.0, UNHEALTHY, "snapshot failed"),
        ({"loading": 1}, 1.0, UNHEALTHY, "loading"),
        ({"role": "slave"}, 1.0, UNHEALTHY, "read-only replica"),
        ({}, 250.0, DEGRADED, "PING took 250 ms"),
        ({"maxmemory": 0}, 1.0, HEALTHY, "maxmemory is not set"),
    ],
)
def test_rules(changes: dict[str, object], latency: float, status: str, warning: str) -> None:
    got_status, warnings = judge(latency, **changes)
    assert got_status == status
    assert any(warning in w for w in warnings), warnings


def test_total_is_the_machine_when_maxmemory_is_unset() -> None:
    report = assess({**GOOD, "maxmemory": 0}, 1.0, QueueStats())
    assert report.memory.total_bytes == 25_000_000_000


def busy(*rates: float, step: float = 5.0) -> tuple[CpuSample, ...]:
    """The readings a sampler keeps over intervals of `step` s that used `rates` of a core."""
    held: tuple[CpuSample, ...] = (CpuSample(1_000.0, 40.0, 10.0, "r1"),)
    for r in rates:
        last = held[-1]
        held = retain(held, CpuSample(last.clock + step, last.user + r * step, last.sys, "r1"))
    return held


def test_the_first_report_has_the_cpu_totals_and_no_rate() -> None:
    info = {**GOOD, "used_cpu_user": 40.0, "used_cpu_sys": 10.0, "server_time_usec": 10**15}
    report = assess(info, 1.0, QueueStats())
    assert (report.cpu.user_seconds, report.cpu.sys_seconds) == (40.0, 10.0)
    assert report.cpu.utilization is None
    message = report.to_proto().cpu
    assert (message.user_seconds, message.sys_seconds) == (40.0, 10.0)
    assert not message.HasField("utilization")
    assert message.interval_seconds == 0.0


def test_the_cpu_rate_over_the_last_interval() -> None:
    report = assess(GOOD, 1.0, QueueStats(), cpu=busy(0.2, 0.125))
    assert report.status == HEALTHY, report.warnings
    message = report.to_proto().cpu
    assert message.HasField("utilization")
    assert message.utilization == 0.125
    assert message.interval_seconds == 5.0
    assert message.user_seconds == 40.0 + 5 * 0.325


def test_cpu_high_for_the_whole_window_is_degraded_and_says_what_to_check() -> None:
    report = assess(GOOD, 1.0, QueueStats(), cpu=busy(*[0.9] * 13))
    assert report.status == DEGRADED
    (warning,) = report.warnings
    assert "more than 80% of a CPU core for 60 s (90% now)" in warning
    assert "SLOWLOG" in warning
    # The threshold is the caller's (FBQ_REDIS_CPU_WARNING).
    assert assess(GOOD, 1.0, QueueStats(), cpu=busy(*[0.9] * 13), cpu_warning=0.95).warnings == ()


@pytest.mark.parametrize(
    "rates",
    [
        [0.1] * 6 + [1.0] + [0.1] * 6,  # one busy interval in a quiet minute
        [0.1] * 12 + [1.0],  # a spike now
        [0.9] * 11,  # busy, but not for a whole minute yet
    ],
)
def test_a_spike_or_a_short_burst_of_cpu_does_not_warn(rates: list[float]) -> None:
    report = assess(GOOD, 1.0, QueueStats(), cpu=busy(*rates))
    assert (report.status, report.warnings) == (HEALTHY, ())


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 512, 2048, 1_288_490_188, 3 * 1024**4)] == [
        "0B",
        "512B",
        "2.0KB",
        "1.2GB",
        "3.0TB",
    ]


async def test_check_a_real_redis(make_server: type[EmbeddedRedis]) -> None:
    server = make_server(appendonly=True)  # type: ignore[call-arg]
    client = create_client(redis_settings(server))
    queue = Queue(client, QueueConfig(name="health"))
    await queue.enqueue(submission())
    report = await check(queue)
    await client.aclose()
    assert report.connected
    assert report.status == HEALTHY, report.warnings
    assert report.version.count(".") == 2
    assert report.memory.used_bytes > 0
    assert report.memory.total_bytes > report.memory.used_bytes
    assert report.persistence.aof_enabled
    assert report.queue.waiting == 1
    assert report.latency_ms > 0
    assert report.cpu.user_seconds + report.cpu.sys_seconds > 0
    assert report.cpu.utilization is None  # no sampler: one reading, no rate


async def test_check_rates_the_cpu_from_the_second_report_on(
    make_server: type[EmbeddedRedis],
) -> None:
    server = make_server(appendonly=True)  # type: ignore[call-arg]
    client = create_client(redis_settings(server))
    queue = Queue(client, QueueConfig(name="health-cpu"))
    sampler = CpuSampler()
    first = await check(queue, sampler)
    assert first.cpu.utilization is None
    assert first.cpu.user_seconds + first.cpu.sys_seconds > 0
    second = await check(queue, sampler)
    await client.aclose()
    assert second.cpu.utilization is not None
    assert second.cpu.utilization >= 0
    assert second.cpu.interval_seconds is not None
    assert second.cpu.interval_seconds > 0
    assert second.cpu.user_seconds >= first.cpu.user_seconds
    assert len(sampler.samples) == 2


async def test_check_an_unreachable_redis() -> None:
    port = free_port()
    client = create_client(RedisSettings(host="127.0.0.1", port=port, connect_timeout=2))
    report = await check(Queue(client, address=f"redis://127.0.0.1:{port}/0"))
    await client.aclose()
    assert (report.status, report.connected) == (UNHEALTHY, False)
    assert "cannot reach Redis" in report.warnings[0]
    assert "REDIS_URL" in report.warnings[0]
