"""The admin HTTP API over the real stack: Redis, ingest, gateway, real HTTP requests."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from feedback_queue.queue import Failure
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.gateway.conftest import AUTH, TOKEN, Stack, StartStack
from tests.helpers import submission

SEED_SHAPE: dict[str, Any] = {
    "status": str,
    "connected": bool,
    "version": str,
    "memoryUsage": {"used": str, "total": str, "percentUsed": (int, float)},
    "queueStats": {"waiting": int, "active": int, "completed": int, "failed": int},
}


def check_shape(body: dict[str, Any], shape: dict[str, Any], path: str = "") -> None:
    """Every field of the seed's JSON is there with its JSON type (bools are not numbers)."""
    for key, kind in shape.items():
        assert key in body, f"{path}{key} missing"
        if isinstance(kind, dict):
            check_shape(body[key], kind, f"{path}{key}.")
        else:
            value = body[key]
            assert isinstance(value, kind), f"{path}{key} is {value!r}"
            assert not (kind is not bool and isinstance(value, bool)), f"{path}{key} is a bool"


async def test_redis_health_degraded_without_aof(stack: Stack) -> None:
    assert stack.ingest is not None
    await stack.ingest.queue.enqueue(submission())
    reply = await stack.http.get("/api/admin/system/redis-health", headers=AUTH)
    assert reply.status_code == 200
    body = reply.json()
    check_shape(body, SEED_SHAPE)
    assert (body["status"], body["connected"]) == ("degraded", True)
    assert body["queueStats"]["waiting"] == 1
    assert body["memoryUsage"]["used"].endswith("B")
    for extra in (
        "latencyMs",
        "persistence",
        "maxmemoryPolicy",
        "connectedClients",
        "keyspaceHits",
        "keyspaceMisses",
        "warnings",
    ):
        assert extra in body
    assert any("AOF is off" in w for w in body["warnings"])
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["x-content-type-options"] == "nosniff"


async def test_redis_health_has_the_cpu_rate_once_ingest_has_read_redis_twice(
    stack: Stack,
) -> None:
    first = (await stack.http.get("/api/admin/system/redis-health", headers=AUTH)).json()
    cpu = first["cpu"]
    # No earlier reading: the totals, and no rate rather than a made-up one.
    assert (cpu["percent"], cpu["intervalSeconds"]) == (None, None)
    assert cpu["userSeconds"] + cpu["sysSeconds"] > 0
    second = (await stack.http.get("/api/admin/system/redis-health", headers=AUTH)).json()
    cpu = second["cpu"]
    check_shape(
        cpu,
        {"percent": float, "intervalSeconds": float, "userSeconds": float, "sysSeconds": float},
    )
    assert cpu["percent"] >= 0
    assert cpu["intervalSeconds"] > 0
    assert cpu["userSeconds"] >= first["cpu"]["userSeconds"]
    assert not any("CPU core" in w for w in second["warnings"])


async def test_redis_health_healthy_then_degraded_by_policy_and_memory(
    start_stack: StartStack, make_server: type[EmbeddedRedis]
) -> None:
    server = make_server(appendonly=True)  # type: ignore[call-arg]
    stack = await start_stack(server)
    body = (await stack.http.get("/api/admin/system/redis-health", headers=AUTH)).json()
    assert body["status"] == "healthy", body["warnings"]
    assert body["maxmemoryPolicy"] == "noeviction"
    assert stack.ingest is not None
    admin = stack.ingest.queue.client
    await admin.config_set("maxmemory-policy", "allkeys-lru")
    reply = await stack.http.get("/api/admin/system/redis-health", headers=AUTH)
    assert reply.status_code == 200
    assert reply.json()["status"] == "degraded"
    assert any("could be evicted" in w for w in reply.json()["warnings"])
    await admin.config_set("maxmemory-policy", "volatile-lru")
    used = int((await admin.info("memory"))["used_memory"])
    await admin.config_set("maxmemory", str(int(used / 0.95)))  # 95% used: above the threshold
    body = (await stack.http.get("/api/admin/system/redis-health", headers=AUTH)).json()
    check_shape(body, SEED_SHAPE)
    assert body["status"] == "degraded"
    assert body["memoryUsage"]["percentUsed"] >= 90
    assert body["memoryUsage"]["totalBytes"] == int(used / 0.95)
    await admin.config_set("maxmemory", "0")


async def test_redis_health_unhealthy_when_redis_stops(
    start_stack: StartStack, make_server: type[EmbeddedRedis]
) -> None:
    server = make_server(appendonly=True)  # type: ignore[call-arg]
    stack = await start_stack(server)
    server.stop()
    reply = await stack.http.get("/api/admin/system/redis-health", headers=AUTH)
    assert reply.status_code == 503
    body = reply.json()
    check_shape(body, SEED_SHAPE)
    assert (body["status"], body["connected"]) == ("unhealthy", False)
    assert any("cannot reach Redis" in w for w in body["warnings"])


async def test_redis_health_unhealthy_when_ingest_is_unreachable(start_stack: StartStack) -> None:
    address = f"127.0.0.1:{free_port()}"
    stack = await start_stack(ingest_address=address)
    reply = await stack.http.get("/api/admin/system/redis-health", headers=AUTH)
    assert reply.status_code == 503
    body = reply.json()
    check_shape(body, SEED_SHAPE)
    assert body["connected"] is False
    assert body["warnings"] == [f"the ingest service is unreachable ({address})"]
    other = await stack.http.get("/api/admin/queue/stats", headers=AUTH)
    assert other.status_code == 503
    assert other.headers["content-type"] == "application/problem+json"
    assert address in other.json()["detail"]


async def test_every_admin_route(stack: Stack) -> None:
    assert stack.ingest is not None
    q = stack.ingest.queue
    ids = [(await q.enqueue(submission(f"essay {i}"))).id for i in range(4)]
    jobs = (await q.take("w1", 2)).jobs
    await q.fail("w1", [Failure(jobs[0], "boom", permanent=True)])
    await q.fail("w1", [Failure(jobs[1], "bang", permanent=True)])
    http = stack.http

    stats = (await http.get("/api/admin/queue/stats", headers=AUTH)).json()
    assert (stats["waiting"], stats["failed"], stats["paused"]) == (2, 2, False)

    page = (await http.get("/api/admin/submissions?status=waiting&pageSize=1", headers=AUTH)).json()
    assert [s["id"] for s in page["submissions"]] == [ids[2]]
    assert page["total"] == 2
    assert page["submissions"][0]["status"] == "waiting"
    assert page["submissions"][0]["submission"]["content"] == "essay 2"
    rest = await http.get(
        f"/api/admin/submissions?status=waiting&pageToken={page['nextPageToken']}", headers=AUTH
    )
    assert [s["id"] for s in rest.json()["submissions"]] == [ids[3]]

    one = (await http.get(f"/api/admin/submissions/{ids[0]}", headers=AUTH)).json()
    assert (one["status"], one["lastError"], one["attempts"]) == ("failed", "boom", 1)

    assert (await http.post(f"/api/admin/submissions/{ids[0]}/retry", headers=AUTH)).json() == {
        "retried": 1
    }
    assert (await http.post("/api/admin/submissions/retry-failed", headers=AUTH)).json() == {
        "retried": 1
    }
    deleted = await http.delete(f"/api/admin/submissions/{ids[3]}", headers=AUTH)
    assert deleted.status_code == 204
    assert (await http.post("/api/admin/queue/pause", headers=AUTH)).json() == {"paused": True}
    assert await q.is_paused()
    assert (await http.post("/api/admin/queue/resume", headers=AUTH)).json() == {"paused": False}
    stats = (await http.get("/api/admin/queue/stats", headers=AUTH)).json()
    assert (stats["waiting"], stats["failed"]) == (3, 0)


@pytest.mark.parametrize(
    ("method", "path", "status", "text"),
    [
        ("GET", "/api/admin/submissions", 400, "status: one of"),
        ("GET", "/api/admin/submissions?status=waiting&pageSize=0", 400, "pageSize"),
        ("GET", "/api/admin/submissions?status=waiting&pageToken=x", 400, "page_token"),
        # #21 finding 11: "²" and 5,000 digits were a 500 (pageSize) and a 502 (pageToken).
        ("GET", "/api/admin/submissions?status=waiting&pageSize=%C2%B2", 400, "pageSize"),
        ("GET", "/api/admin/submissions?status=waiting&pageSize=" + "9" * 5000, 400, "pageSize"),
        ("GET", "/api/admin/submissions?status=waiting&pageToken=%C2%B2", 400, "page_token"),
        ("GET", "/api/admin/submissions?status=waiting&pageToken=" + "9" * 5000, 400, "page_token"),
        ("GET", "/api/admin/submissions/nosuchid0000", 404, "nosuchid0000"),
        ("GET", "/api/admin/submissions/bad%20id", 400, "id:"),
        ("POST", "/api/admin/submissions/nosuchid0000/retry", 404, "nosuchid0000"),
        ("DELETE", "/api/admin/submissions/nosuchid0000", 404, "nosuchid0000"),
        ("GET", "/api/admin/nothing-here", 404, "no route"),
        ("DELETE", "/api/admin/queue/stats", 405, "not allowed"),
    ],
)
async def test_errors_are_problem_details(
    stack: Stack, method: str, path: str, status: int, text: str
) -> None:
    reply = await stack.http.request(method, path, headers=AUTH)
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/problem+json"
    body = reply.json()
    assert body["status"] == status
    assert text in body["detail"]
    assert "Traceback" not in reply.text


async def test_retry_of_a_waiting_submission_conflicts(stack: Stack) -> None:
    assert stack.ingest is not None
    job_id = (await stack.ingest.queue.enqueue(submission())).id
    reply = await stack.http.post(f"/api/admin/submissions/{job_id}/retry", headers=AUTH)
    assert reply.status_code == 409


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 403),
        ({"Authorization": TOKEN}, 403),
        ({"Authorization": f"Basic {TOKEN}"}, 403),
    ],
)
async def test_admin_routes_need_the_token(
    stack: Stack, headers: dict[str, str], status: int
) -> None:
    for method, path in [
        ("GET", "/api/admin/system/redis-health"),
        ("GET", "/api/admin/queue/stats"),
        ("POST", "/api/admin/queue/pause"),
        ("DELETE", "/api/admin/submissions/abc"),
    ]:
        reply = await stack.http.request(method, path, headers=headers)
        assert reply.status_code == status, path
        assert TOKEN not in reply.text
    assert stack.ingest is not None
    assert not await stack.ingest.queue.is_paused()
    assert (await stack.http.get("/healthz")).json() == {"status": "ok"}


async def test_metrics_parse_with_prometheus_own_parser(stack: Stack) -> None:
    assert stack.ingest is not None
    for i in range(3):
        await stack.ingest.queue.enqueue(submission(f"t{i}"))
    reply = await stack.http.get("/metrics")
    assert reply.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("fbq_redis_up", ())] == 1.0
    assert samples[("fbq_queue_submissions", (("state", "waiting"),))] == 3.0
    assert samples[("fbq_submissions_enqueued_total", ())] == 3.0
    assert samples[("fbq_redis_memory_used_bytes", ())] > 0
    assert samples[("fbq_redis_health", (("status", "degraded"),))] == 1.0
    assert families["fbq_submissions_completed"].type == "counter"
    assert families["fbq_redis_cpu_seconds"].type == "counter"
    user = samples[("fbq_redis_cpu_seconds_total", (("mode", "user"),))]
    system = samples[("fbq_redis_cpu_seconds_total", (("mode", "sys"),))]
    assert user + system > 0
    # The first report has no earlier reading to rate against: no utilization at all.
    assert "fbq_redis_cpu_utilization" not in families
    again = {
        f.name: f for f in text_string_to_metric_families((await stack.http.get("/metrics")).text)
    }
    assert again["fbq_redis_cpu_utilization"].type == "gauge"
    assert again["fbq_redis_cpu_utilization"].samples[0].value >= 0
    later = {s.labels["mode"]: s.value for s in again["fbq_redis_cpu_seconds"].samples}
    assert later["user"] >= user


async def test_metrics_when_ingest_is_unreachable(start_stack: StartStack) -> None:
    stack = await start_stack(ingest_address=f"127.0.0.1:{free_port()}")
    families = list(text_string_to_metric_families((await stack.http.get("/metrics")).text))
    assert [(f.name, f.samples[0].value) for f in families] == [("fbq_redis_up", 0.0)]


async def test_redis_health_unhealthy_when_ingest_stops(stack: Stack) -> None:
    assert stack.ingest is not None
    assert (await stack.http.get("/api/admin/system/redis-health", headers=AUTH)).status_code == 200
    await stack.ingest.server.stop(grace=0)
    reply = await stack.http.get("/api/admin/system/redis-health", headers=AUTH)
    assert reply.status_code == 503
    body = reply.json()
    check_shape(body, SEED_SHAPE)
    assert body["connected"] is False
    assert body["warnings"][0].startswith("the ingest service is unreachable")
