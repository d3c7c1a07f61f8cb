"""The redis-health report: each rule on made-up INFO, then the real thing."""

from __future__ import annotations

import pytest

from feedback_queue.connection import create_client
from feedback_queue.health import DEGRADED, HEALTHY, UNHEALTHY, assess, check, human_bytes
from feedback_queue.queue import Queue, QueueStats
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


async def test_check_an_unreachable_redis() -> None:
    port = free_port()
    client = create_client(RedisSettings(host="127.0.0.1", port=port, connect_timeout=2))
    report = await check(Queue(client, address=f"redis://127.0.0.1:{port}/0"))
    await client.aclose()
    assert (report.status, report.connected) == (UNHEALTHY, False)
    assert "cannot reach Redis" in report.warnings[0]
    assert "REDIS_URL" in report.warnings[0]
