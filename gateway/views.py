"""Protobuf messages as the JSON the admin API answers (the seed's field names where it has
them, camelCase like it everywhere else)."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict

from feedback_queue.v1 import queue_pb2 as pb

STATUS_NAMES = {
    "waiting": pb.WAITING,
    "active": pb.ACTIVE,
    "delayed": pb.DELAYED,
    "completed": pb.COMPLETED,
    "failed": pb.FAILED,
    "cancelled": pb.CANCELLED,
}


def status_name(status: int) -> str:
    """A status as the JSON spells it: "waiting" .. "cancelled"."""
    return pb.Status.Name(status).lower()  # type: ignore[arg-type]


def redis_health(h: pb.RedisHealth) -> dict[str, Any]:
    """The seed's redis-health JSON, numbers as numbers, plus what an operator needs."""
    m, q, p = h.memory_usage, h.queue_stats, h.persistence
    return {
        "status": h.status,
        "connected": h.connected,
        "version": h.version,
        "memoryUsage": {
            "used": m.used or "0B",
            "total": m.total or "0B",
            "percentUsed": m.percent_used,
            "usedBytes": m.used_bytes,
            "totalBytes": m.total_bytes,
        },
        "queueStats": queue_stats(q),
        "latencyMs": h.latency_ms,
        "persistence": {
            "aofEnabled": p.aof_enabled,
            "aofLastWriteStatus": p.aof_last_write_status,
            "rdbLastBgsaveStatus": p.rdb_last_bgsave_status,
            "rdbLastSaveTime": p.rdb_last_save_time.ToJsonString()
            if p.HasField("rdb_last_save_time")
            else None,
            "rdbChangesSinceLastSave": p.rdb_changes_since_last_save,
        },
        "maxmemoryPolicy": h.maxmemory_policy,
        "connectedClients": h.connected_clients,
        "keyspaceHits": h.keyspace_hits,
        "keyspaceMisses": h.keyspace_misses,
        "role": h.role,
        "mode": h.mode,
        "cpu": cpu(h.cpu),
        "warnings": list(h.warnings),
    }


def cpu(c: pb.RedisCpu) -> dict[str, Any]:
    """Percent of one core over the last interval; both null until ingest has two readings."""
    known = c.HasField("utilization")
    return {
        "percent": round(100 * c.utilization, 1) if known else None,
        "intervalSeconds": c.interval_seconds if known else None,
        "userSeconds": c.user_seconds,
        "sysSeconds": c.sys_seconds,
    }


def queue_stats(q: pb.QueueStats) -> dict[str, Any]:
    return {
        "waiting": q.waiting,
        "active": q.active,
        "completed": q.completed,
        "failed": q.failed,
        "delayed": q.delayed,
        "workers": q.workers,
        "paused": q.paused,
        "enqueuedTotal": q.enqueued_total,
        "failedTotal": q.failed_total,
        "retriedTotal": q.retried_total,
        "recoveredTotal": q.recovered_total,
        "cancelledTotal": q.cancelled_total,
    }


def submission(info: pb.SubmissionInfo) -> dict[str, Any]:
    body: dict[str, Any] = MessageToDict(info, always_print_fields_with_no_presence=True)
    body["status"] = status_name(info.status)
    for field in ("attempts", "maxAttempts"):
        body[field] = int(body.get(field, 0))
    return body


def unreachable(address: str, reason: str) -> dict[str, Any]:
    """The redis-health JSON when the gateway cannot ask: same shape, nothing known."""
    return redis_health(
        pb.RedisHealth(status="unhealthy", connected=False, warnings=[f"{reason} ({address})"])
    )
