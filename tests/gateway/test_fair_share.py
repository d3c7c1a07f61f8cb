"""Fair share over HTTP against the real stack: GET /api/admin/fair-share, PUT and DELETE
/api/admin/quotas/<key> with roles, audit and 400s that say what to fix, and the per-key
families of /metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from feedback_queue.audit import token_id
from feedback_queue.credentials import Credentials, Role, add
from feedback_queue.v1 import queue_pb2 as pb
from tests.gateway.conftest import AUTH, TOKEN, Stack, StartStack
from tests.helpers import submission
from tests.secrets import secret


async def enqueue(stack: Stack, counts: dict[str, int], **fields: object) -> None:
    assert stack.ingest is not None
    for key, n in counts.items():
        for i in range(n):
            await stack.ingest.queue.enqueue(submission(f"{key} {i}", submitter_id=key, **fields))


async def test_fair_share_json(stack: Stack) -> None:
    await enqueue(stack, {"school-a": 3, "school-b": 2, "learner-9": 1})
    await enqueue(stack, {"school-b": 1}, priority=pb.PRIORITY_HIGH)
    reply = await stack.http.get("/api/admin/fair-share?top=2", headers=AUTH)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "keys": [
            {
                "key": "school-a",
                "waiting": 3,
                "active": 0,
                "started": 0,
                "quota": {"weight": 1.0, "rate": 0.0, "maxActive": 0, "custom": False},
            },
            {
                "key": "school-b",
                "waiting": 3,
                "active": 0,
                "started": 0,
                "quota": {"weight": 1.0, "rate": 0.0, "maxActive": 0, "custom": False},
            },
        ],
        "other": {"waiting": 1, "active": 0, "started": 0},
        "keysWaiting": 3,
        "waitingByPriority": {"high": 1, "normal": 6, "low": 0},
        "defaults": {"weight": 1.0, "rate": 0.0, "maxActive": 0},
        "quotas": [],
    }
    default = await stack.http.get("/api/admin/fair-share", headers=AUTH)
    assert len(default.json()["keys"]) == 3


@pytest.mark.parametrize("top", ["0", "1001", "abc", "", "²", "-1", "10000"])
async def test_a_bad_top_is_a_400_that_says_what_to_give(stack: Stack, top: str) -> None:
    reply = await stack.http.get(f"/api/admin/fair-share?top={top}", headers=AUTH)
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["detail"] == "top: a whole number from 1 to 1000 (default 10)"


async def test_put_and_delete_a_quota(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fbq.audit")
    http = stack.http
    path = "/api/admin/quotas/tenant:free"
    reply = await http.put(path, json={"weight": 2, "max_active": 3}, headers=AUTH)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "key": "tenant:free",
        "weight": 2.0,
        "rate": 0.0,
        "maxActive": 3,
        "custom": True,
    }
    # Unset and null keep the current values; camelCase is taken too.
    kept = await http.put(path, json={"rate": 1.5, "weight": None, "maxActive": 4}, headers=AUTH)
    assert kept.json() == {
        "key": "tenant:free",
        "weight": 2.0,
        "rate": 1.5,
        "maxActive": 4,
        "custom": True,
    }
    share = (await http.get("/api/admin/fair-share", headers=AUTH)).json()
    assert share["quotas"] == [kept.json()]
    # An encoded key is the same key.
    gone = await http.delete("/api/admin/quotas/tenant%3Afree", headers=AUTH)
    assert gone.status_code == 200
    assert gone.json() == {
        "key": "tenant:free",
        "weight": 1.0,
        "rate": 0.0,
        "maxActive": 0,
        "custom": False,
    }
    assert (await http.get("/api/admin/fair-share", headers=AUTH)).json()["quotas"] == []
    who = token_id(TOKEN)
    # The gateway's own lines (ingest, in this process too, writes its own as anonymous).
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    assert [line for line in lines if f"who={who}" in line] == [
        f"audit who={who} action=SetKeyQuota target=key:tenant:free result=200",
        f"audit who={who} action=SetKeyQuota target=key:tenant:free result=200",
        f"audit who={who} action=SetKeyQuota target=key:tenant:free result=200",
    ]


@pytest.mark.parametrize(
    ("key", "body", "detail"),
    [
        (
            "k",
            b"",
            'the body must be a JSON object like {"weight": 2, "rate": 5, "max_active": 10}',
        ),
        ("k", b"[1]", "the body must be a JSON object like"),
        ("k", b"{not json", "the body must be a JSON object like"),
        ("k", b"{}", "give at least one of weight, rate, max_active (DELETE resets"),
        ("k", b'{"weight": null}', "give at least one of weight, rate, max_active"),
        ("k", b'{"wieght": 2}', "unknown field 'wieght': give weight, rate or max_active"),
        ("k", b'{"weight": "2"}', "weight: a number, more than 0"),
        ("k", b'{"weight": true}', "weight: a number, more than 0"),
        ("k", b'{"rate": "fast"}', "rate: a number, 0 or more, 0 for no limit"),
        ("k", b'{"max_active": 1.5}', "max_active: a whole number, 0 for no limit"),
        ("k", b'{"max_active": -1}', "max_active: a whole number, 0 for no limit"),
        ("k", b'{"max_active": 1, "maxActive": 2}', "max_active: give it once"),
        ("k", b"x" * 5000, "the body is over 4096 bytes"),
        # What only the core knows is ingest's to say, through the same map.
        ("k", b'{"weight": 0}', "weight: must be from 0.001 to 1000"),
        ("k", b'{"weight": 1e9}', "weight: must be from 0.001 to 1000"),
        ("k", b'{"max_active": 2000000}', "max_active: must be from 0 (no limit) to 1000000"),
        ("a%20b", b'{"weight": 2}', "key: must be 1-128 characters of"),
        ("x" * 129, b'{"weight": 2}', "key: must be 1-128 characters of"),
    ],
)
async def test_a_bad_quota_is_a_400_that_says_what_to_fix(
    stack: Stack, key: str, body: bytes, detail: str
) -> None:
    reply = await stack.http.put(
        f"/api/admin/quotas/{key}",
        content=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["detail"].startswith(detail), reply.json()["detail"]
    share = (await stack.http.get("/api/admin/fair-share", headers=AUTH)).json()
    assert share["quotas"] == []


async def test_viewers_read_operators_change_producers_neither(
    start_stack: StartStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "credentials"
    made = {role: secret(add(path, f"{role.value}-1", role)) for role in Role}
    stack = await start_stack(credentials=Credentials.load(path))
    caplog.set_level(logging.INFO, logger="fbq.audit")
    for role, token in made.items():
        auth = {"Authorization": f"Bearer {token}"}
        read = await stack.http.get("/api/admin/fair-share", headers=auth)
        assert read.status_code == (403 if role is Role.PRODUCER else 200), role
        for method, body in (("PUT", {"weight": 2}), ("DELETE", None)):
            reply = await stack.http.request(
                method, "/api/admin/quotas/school-a", json=body, headers=auth
            )
            may = role in (Role.OPERATOR, Role.ADMIN)
            assert reply.status_code == (200 if may else 403), (role, method, reply.text)
            if not may:
                assert reply.json()["reason"] == "ROLE_FORBIDS"
        if role is Role.VIEWER:
            assert "SetKeyQuota needs an operator or admin credential" in reply.json()["detail"]
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    for role, result in (
        (Role.PRODUCER, 403),
        (Role.VIEWER, 403),
        (Role.OPERATOR, 200),
        (Role.ADMIN, 200),
    ):
        line = f"audit who=principal:{role.value}-1 action=SetKeyQuota target=key:school-a"
        assert lines.count(f"{line} result={result}") == 2


async def test_metrics_per_key_are_bounded(stack: Stack) -> None:
    assert stack.ingest is not None
    # One key with a job ACTIVE and none waiting, then twelve keys waiting, one named "other".
    await enqueue(stack, {"busy": 1})
    assert len((await stack.ingest.queue.take("w1", 1)).jobs) == 1
    await enqueue(stack, {f"key-{i:02}": 14 - i for i in range(11)})
    await enqueue(stack, {"other": 20}, priority=pb.PRIORITY_LOW)
    reply = await stack.http.get("/metrics")
    assert reply.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}

    def by_key(name: str, sample: str = "") -> dict[str, float]:
        samples = families[name].samples
        return {s.labels["key"]: s.value for s in samples if s.name == (sample or name)}

    waiting = by_key("fbq_key_waiting")
    # The top 10 by waiting: "other" (a real key: its series is the aggregate's) and key-00 to
    # key-08 by name; key-09, key-10 and busy are summed under "other".
    assert set(waiting) == {"other", *(f"key-{i:02}" for i in range(9))}
    assert waiting["other"] == 20 + 5 + 4
    assert waiting["key-00"] == 14
    assert sum(waiting.values()) == 20 + sum(range(4, 15))
    assert by_key("fbq_key_active") == {**dict.fromkeys(waiting, 0.0), "other": 1.0}
    started = by_key("fbq_key_started", "fbq_key_started_total")
    assert started == {**dict.fromkeys(waiting, 0.0), "other": 1.0}
    assert families["fbq_key_started"].type == "counter"
    priority = {s.labels["priority"]: s.value for s in families["fbq_waiting_by_priority"].samples}
    assert priority == {"high": 0, "normal": sum(range(4, 15)), "low": 20}
    assert families["fbq_keys_waiting"].samples[0].value == 12
