"""fbq keys and fbq quota against a real ingest and Redis."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Fbq


async def submit(cli: Fbq, counts: dict[str, int]) -> None:
    for key, n in counts.items():
        for i in range(n):
            assert (await cli("submit", f"Essay {i}.", "--submitter", key)).code == 0


async def test_keys_lists_the_most_waiting_first_then_other_and_the_defaults(cli: Fbq) -> None:
    await submit(cli, {"school-a": 3, "school-b": 2, "learner-9": 1})
    assert (await cli("quota", "school-b", "--weight", "4", "--rate", "2.5")).code == 0
    table = await cli("keys", "--top", "2")
    assert table.code == 0, table.err
    rows = [line.split() for line in table.lines]
    assert rows[0] == [
        "key", "waiting", "active", "started", "weight", "rate", "max_active", "quota"
    ]  # fmt: skip
    assert rows[1] == ["school-a", "3", "0", "0", "1", "-", "-", "default"]
    assert rows[2] == ["school-b", "2", "0", "0", "4", "2.5", "-", "own"]
    assert rows[3] == ["other", "1", "0", "0"]
    assert table.lines[4] == (
        "3 keys with waiting work; waiting by priority: high 0, normal 6, low 0"
    )
    assert (
        table.lines[5] == "defaults: weight 1, rate -, max_active -; 1 key with a quota of its own"
    )

    data = json.loads((await cli("keys", "--json")).out)
    assert [k["key"] for k in data["keys"]] == ["school-a", "school-b", "learner-9"]
    assert data["keys"][1] == {
        "key": "school-b",
        "waiting": 2,
        "active": 0,
        "started": 0,
        "weight": 4.0,
        "rate": 2.5,
        "max_active": 0,
        "custom": True,
    }
    assert data["other"] == {"waiting": 0, "active": 0, "started": 0}
    assert data["waiting_by_priority"] == {"high": 0, "normal": 6, "low": 0}
    assert data["defaults"] == {"weight": 1.0, "rate": 0.0, "max_active": 0}
    assert data["quotas"] == [
        {"key": "school-b", "weight": 4.0, "rate": 2.5, "max_active": 0, "custom": True}
    ]


async def test_keys_on_an_empty_queue(cli: Fbq) -> None:
    result = await cli("keys")
    assert result.code == 0
    assert result.lines[0] == "no fairness key has waiting or active work"


async def test_quota_sets_keeps_shows_and_resets(cli: Fbq) -> None:
    set_ = await cli("quota", "tenant:free", "--rate", "5", "--max-active", "2")
    assert set_.code == 0, set_.err
    assert set_.out == ("quota of tenant:free: weight 1, rate 5/s, max_active 2 (its own)\n")
    kept = await cli("quota", "tenant:free", "--weight", "0.5")
    assert kept.out == "quota of tenant:free: weight 0.5, rate 5/s, max_active 2 (its own)\n"
    shown = await cli("quota", "tenant:free", "--json")
    assert json.loads(shown.out) == {
        "key": "tenant:free",
        "weight": 0.5,
        "rate": 5.0,
        "max_active": 2,
        "custom": True,
    }
    other = await cli("quota", "tenant:paid")
    assert other.out == (
        "quota of tenant:paid: weight 1, rate no limit, max_active no limit (the defaults)\n"
    )
    reset = await cli("quota", "tenant:free", "--reset")
    assert reset.out == (
        "quota of tenant:free: weight 1, rate no limit, max_active no limit (the defaults)\n"
    )
    assert json.loads((await cli("keys", "--json")).out)["quotas"] == []


async def test_quota_refusals_say_what_to_fix(cli: Fbq) -> None:
    for args, message in [
        (["--weight", "0"], "fbq: error: weight: must be from 0.001 to 1000"),
        (
            ["--weight", "2", "--reset"],
            "fbq: error: --reset gives the key the defaults: leave out --weight",
        ),
        (
            ["--max-active", "2000000"],
            "fbq: error: max_active: must be from 0 (no limit) to 1000000",
        ),
    ]:
        result = await cli("quota", "school-a", *args)
        assert result.code == 1, args
        assert result.err.startswith(message), result.err
    bad_key = await cli("quota", "no spaces", "--weight", "2")
    assert bad_key.code == 1
    assert bad_key.err.startswith("fbq: error: key: must be 1-128 characters of")
    assert json.loads((await cli("keys", "--json")).out)["quotas"] == []


async def test_submit_takes_a_fairness_key_and_a_priority(cli: Fbq, tmp_path: Path) -> None:
    one = await cli("submit", "Essay.", "--fairness-key", "school-12", "--priority", "high")
    assert one.code == 0, one.err
    lines = tmp_path / "batch.jsonl"
    lines.write_text(
        '{"content": "a"}\n'
        '{"content": "b", "fairness_key": "school-7", "priority": "PRIORITY_LOW"}\n'
    )
    many = await cli("submit", "--jsonl", str(lines), "--fairness-key", "school-12")
    assert many.code == 0, many.err
    data = json.loads((await cli("keys", "--json")).out)
    assert [(k["key"], k["waiting"]) for k in data["keys"]] == [("school-12", 2), ("school-7", 1)]
    assert data["waiting_by_priority"] == {"high": 1, "normal": 1, "low": 1}
    refused = await cli("submit", "Essay.", "--fairness-key", "no spaces")
    assert refused.code == 1
    assert "fairness_key: must be 1-128 characters" in refused.err
