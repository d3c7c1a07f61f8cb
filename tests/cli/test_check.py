"""`fbq check` against the tests' Redis: exit codes, --json and --repair."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from feedback_queue.cli import main
from feedback_queue.queue import Queue
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.cli.conftest import Fbq
from tests.helpers import pull_from_line, sneak_into_line, submission


@pytest.fixture(autouse=True)
def redis_env(monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedRedis, queue: Queue) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_server.port}/0")
    monkeypatch.setenv("FBQ_QUEUE", queue.name)
    monkeypatch.delenv("FBQ_SHARDS", raising=False)


async def test_a_healthy_queue_exits_0(fbq: Fbq, queue: Queue) -> None:
    await queue.enqueue(submission())
    result = await fbq("check")
    assert result.code == 0
    assert result.lines == ["no violations in 1 jobs"]
    result = await fbq("check", "--json")
    assert result.code == 0
    assert json.loads(result.out) == {"jobs": 1, "violations": [], "repaired": []}


async def test_violations_exit_1_and_repair_fixes_what_is_safe(
    fbq: Fbq, queue: Queue, client: Redis
) -> None:
    lost = (await queue.enqueue(submission())).id
    await pull_from_line(queue, client, lost)
    await sneak_into_line(queue, client, "ghost")
    result = await fbq("check")
    assert result.code == 1
    assert f"lost-waiting: job {lost} is WAITING but in no list or set" in result.out
    assert "no-record: job ghost has no record but is in waiting" in result.out
    assert "2 violation(s) in 1 jobs (1 fixable with --repair)" in result.err
    result = await fbq("check", "--repair", "--json")
    assert result.code == 1  # the ghost remains
    report = json.loads(result.out)
    assert [v["subject"] for v in report["repaired"]] == [lost]
    assert [(v["kind"], v["subject"]) for v in report["violations"]] == [("no-record", "ghost")]
    await pull_from_line(queue, client, "ghost")
    assert (await fbq("check", "--repair")).code == 0
    assert await queue.waiting_ids() == [lost]


async def test_unreachable_redis_is_one_line(fbq: Fbq, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    result = await fbq("check")
    assert result.code == 1
    assert result.err.startswith("fbq: error: ")
    assert "Traceback" not in result.err


def test_check_has_help_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: fbq check" in out
    assert "--repair" in out
    assert "example" in out
