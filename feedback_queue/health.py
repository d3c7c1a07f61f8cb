"""The redis-health report: what an operator needs to know about the Redis behind the queue.

`assess` is a pure function of INFO, one PING's latency, the queue counts and the CPU readings
taken so far (redis_cpu.py), so every rule is tested without a Redis in a bad state. `check`
gathers those through the queue, and remembers each CPU reading in the caller's sampler.

healthy    Redis answers, accepts writes, and nothing below is wrong.
degraded   it works, but something puts submissions at risk or slows them: an allkeys-*
           eviction policy (queue keys could be evicted), memory above the warning threshold,
           no AOF, slow PINGs, a CPU busier than the warning threshold for a whole window.
unhealthy  it cannot take submissions: unreachable, refused credentials, still loading, a
           read-only replica, out of memory, or its last disk write failed.

`fbq up --memory` runs Redis with persistence off, so its report is degraded ("AOF is off").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

from feedback_queue import redis_cpu
from feedback_queue.errors import QueueError
from feedback_queue.queue import QueueStats
from feedback_queue.settings import Settings
from feedback_queue.sharded import QueueApi
from feedback_queue.v1 import queue_pb2 as pb

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
MEMORY_WARNING = 0.90
LATENCY_WARNING_MS = 100.0
# The fraction of one core Redis may use for a whole window before the report says degraded:
# FBQ_REDIS_CPU_WARNING, whose default lives with the settings.
CPU_WARNING = Settings.redis_cpu_warning
_SAFE_POLICIES = {"noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}


@dataclass(frozen=True)
class Memory:
    used_bytes: int = 0
    total_bytes: int = 0

    @property
    def percent_used(self) -> float:
        return round(100.0 * self.used_bytes / self.total_bytes, 1) if self.total_bytes else 0.0


@dataclass(frozen=True)
class Persistence:
    aof_enabled: bool = False
    aof_last_write_status: str = ""
    rdb_last_bgsave_status: str = ""
    rdb_last_save_time: int = 0
    rdb_changes_since_last_save: int = 0


@dataclass(frozen=True)
class HealthReport:
    status: str
    connected: bool
    version: str = ""
    memory: Memory = field(default_factory=Memory)
    queue: QueueStats = field(default_factory=QueueStats)
    latency_ms: float = 0.0
    persistence: Persistence = field(default_factory=Persistence)
    maxmemory_policy: str = ""
    connected_clients: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    warnings: tuple[str, ...] = ()
    role: str = ""
    mode: str = ""
    cpu: redis_cpu.CpuUse = field(default_factory=redis_cpu.CpuUse)

    def to_proto(self) -> pb.RedisHealth:
        return pb.RedisHealth(
            status=self.status,
            connected=self.connected,
            version=self.version,
            memory_usage=pb.MemoryUsage(
                used_bytes=self.memory.used_bytes,
                total_bytes=self.memory.total_bytes,
                percent_used=self.memory.percent_used,
                used=human_bytes(self.memory.used_bytes),
                total=human_bytes(self.memory.total_bytes),
            ),
            queue_stats=self.queue.to_proto(),
            latency_ms=round(self.latency_ms, 3),
            persistence=pb.Persistence(
                aof_enabled=self.persistence.aof_enabled,
                aof_last_write_status=self.persistence.aof_last_write_status,
                rdb_last_bgsave_status=self.persistence.rdb_last_bgsave_status,
                rdb_last_save_time=(
                    Timestamp(seconds=self.persistence.rdb_last_save_time)
                    if self.persistence.rdb_last_save_time
                    else None
                ),
                rdb_changes_since_last_save=self.persistence.rdb_changes_since_last_save,
            ),
            maxmemory_policy=self.maxmemory_policy,
            connected_clients=self.connected_clients,
            keyspace_hits=self.keyspace_hits,
            keyspace_misses=self.keyspace_misses,
            warnings=list(self.warnings),
            role=self.role,
            mode=self.mode,
            cpu=pb.RedisCpu(
                user_seconds=self.cpu.user_seconds,
                sys_seconds=self.cpu.sys_seconds,
                utilization=(
                    None if self.cpu.utilization is None else round(self.cpu.utilization, 4)
                ),
                interval_seconds=self.cpu.interval_seconds or 0.0,
            ),
        )


def human_bytes(n: int) -> str:
    """Sizes as the seed's JSON shows them: "512B", "1.2GB"."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{n}B" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _int(info: dict[str, object], key: str) -> int:
    value = info.get(key, 0)
    return int(value) if isinstance(value, int | float | str) and str(value).isdigit() else 0


def assess(
    info: dict[str, object],
    latency_ms: float,
    queue: QueueStats,
    *,
    memory_warning: float = MEMORY_WARNING,
    latency_warning_ms: float = LATENCY_WARNING_MS,
    cpu: Sequence[redis_cpu.CpuSample] = (),
    cpu_warning: float = CPU_WARNING,
    cpu_window: float = redis_cpu.CPU_WINDOW,
) -> HealthReport:
    """Judge a Redis server from its INFO (as redis-py parses it) and the CPU readings taken so
    far, oldest first, this INFO's last (none: the totals of this INFO, no rate)."""
    problems: list[str] = []  # make it unhealthy
    risks: list[str] = []  # make it degraded
    notes: list[str] = []  # worth a look, status unchanged

    used, maxmemory = _int(info, "used_memory"), _int(info, "maxmemory")
    memory = Memory(used, maxmemory or _int(info, "total_system_memory"))
    policy = str(info.get("maxmemory_policy", ""))
    if maxmemory and used >= maxmemory:
        problems.append(
            f"memory is full ({human_bytes(used)} of maxmemory {human_bytes(maxmemory)}): "
            "new submissions are refused"
        )
    elif maxmemory and used >= memory_warning * maxmemory:
        risks.append(
            f"memory is {memory.percent_used}% of maxmemory: raise maxmemory or drain the queue"
        )
    if not maxmemory:
        notes.append("maxmemory is not set: Redis may take all the machine's memory")
    if policy.startswith("allkeys-"):
        risks.append(
            f"maxmemory-policy is {policy}: queued submissions could be evicted; use volatile-lru "
            "or noeviction"
        )
    elif policy and policy not in _SAFE_POLICIES:
        notes.append(f"unknown maxmemory-policy {policy}")

    persistence = Persistence(
        aof_enabled=bool(_int(info, "aof_enabled")),
        aof_last_write_status=str(info.get("aof_last_write_status", "")),
        rdb_last_bgsave_status=str(info.get("rdb_last_bgsave_status", "")),
        rdb_last_save_time=_int(info, "rdb_last_save_time"),
        rdb_changes_since_last_save=_int(info, "rdb_changes_since_last_save"),
    )
    if persistence.aof_enabled and persistence.aof_last_write_status == "err":
        problems.append("the last AOF write failed: check the Redis disk")
    if persistence.rdb_last_bgsave_status == "err":
        problems.append("the last RDB snapshot failed: Redis may refuse writes; check its disk")
    if not persistence.aof_enabled:
        risks.append(
            "AOF is off: a Redis restart loses the submissions written since the last snapshot "
            "(set appendonly yes)"
        )
    if _int(info, "loading"):
        problems.append("Redis is loading its data set")
    role = str(info.get("role", ""))
    if role == "slave":
        problems.append("connected to a read-only replica: point REDIS_URL at the master")
    if latency_ms >= latency_warning_ms:
        risks.append(f"a PING took {latency_ms:.0f} ms: check the network and Redis CPU")
    cpu_use = _cpu_use(info, cpu)
    if redis_cpu.sustained_above(cpu, cpu_warning, window=cpu_window):
        risks.append(
            f"Redis has used more than {cpu_warning:.0%} of a CPU core for {cpu_window:.0f} s "
            f"({100 * (cpu_use.utilization or 0.0):.0f}% now): every call waits for it; look "
            "for slow or heavy commands (SLOWLOG GET, INFO commandstats) and for what else "
            "runs on its host"
        )

    status = UNHEALTHY if problems else DEGRADED if risks else HEALTHY
    return HealthReport(
        status=status,
        connected=True,
        version=str(info.get("redis_version", "")),
        memory=memory,
        queue=queue,
        latency_ms=latency_ms,
        persistence=persistence,
        maxmemory_policy=policy,
        connected_clients=_int(info, "connected_clients"),
        keyspace_hits=_int(info, "keyspace_hits"),
        keyspace_misses=_int(info, "keyspace_misses"),
        warnings=tuple(problems + risks + notes),
        role=role,
        mode=str(info.get("redis_mode", "")),
        cpu=cpu_use,
    )


def _cpu_use(info: dict[str, object], cpu: Sequence[redis_cpu.CpuSample]) -> redis_cpu.CpuUse:
    if cpu:
        return redis_cpu.use(cpu)
    sample = redis_cpu.sample_of(info)
    return redis_cpu.CpuUse() if sample is None else redis_cpu.use([sample])


def unreachable(reason: str) -> HealthReport:
    """The report when Redis cannot be asked at all."""
    return HealthReport(status=UNHEALTHY, connected=False, warnings=(reason,))


async def check(
    queue: QueueApi,
    cpu: redis_cpu.CpuSampler | None = None,
    *,
    cpu_warning: float = CPU_WARNING,
) -> HealthReport:
    """Ask Redis and judge; never raises for a Redis problem (that is what it reports).

    With `cpu`, this INFO's CPU reading joins the earlier ones, so the report has a rate."""
    try:
        server = await queue.server_info()
        stats = await queue.stats()
    except QueueError as exc:
        return unreachable(str(exc))
    samples = cpu.add(redis_cpu.sample_of(server.info)) if cpu is not None else ()
    return assess(
        server.info,
        server.latency_ms,
        stats,
        cpu=samples,
        cpu_warning=cpu_warning,
        cpu_window=cpu.window if cpu is not None else redis_cpu.CPU_WINDOW,
    )
