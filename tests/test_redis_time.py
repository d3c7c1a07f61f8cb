"""The queue keeps Redis's time only: a client whose host clock is an hour off changes nothing.

A real process under Debian's `faketime` (tests/clock_probe.py) runs one job's life on a queue
made as the services make it (no test clock): a delayed, keyed submit, promotion, a failure with
a backoff, the retry, the ack and the sweep of the idempotency key. Code that read the host's
clock would stamp the job an hour off, promote it an hour early or late (its own promotions
and the first sweep would see it due at once, or never within the probe's patience), and
forget the key at once or an hour late. Every stamp must instead fall inside Redis's own
readings taken around its step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from feedback_queue.up.embedded import EmbeddedRedis
from tests.clock_probe import BACKOFF, DELAY, IDEMPOTENCY_TTL
from tests.faketime import faketime_env

ROOT = Path(__file__).resolve().parents[1]


def probe(offset: str, port: int, queue: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.clock_probe", str(port), queue],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **faketime_env(offset)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def within(stamp: int, bounds: list[int], plus: float = 0.0) -> bool:
    ms = int(plus * 1000)
    return bounds[0] + ms <= stamp <= bounds[1] + ms


@pytest.mark.parametrize("offset", ["-1h", "+1h"])
def test_a_client_an_hour_off_stamps_and_judges_by_redis_time(
    redis_server: EmbeddedRedis, queue_name: str, offset: str
) -> None:
    life = probe(offset, redis_server.port, queue_name)
    # The probe's host clock really was an hour off (it read it right after starting).
    sign = 1 if offset.startswith("+") else -1
    assert abs(life["host_ms"] - time.time() * 1000 - sign * 3_600_000) < 600_000

    assert within(life["enqueued_ms"], life["enqueue"])
    assert life["run_at_ms"] == life["enqueued_ms"] + int(DELAY * 1000)
    assert within(life["key_expires_ms"], life["enqueue"], IDEMPOTENCY_TTL)
    # Promoted only once due by Redis's clock, and then promptly.
    assert life["early_promotions"] == 0 or life["early_promote"][1] >= life["run_at_ms"]
    assert life["promoted_at"] >= life["run_at_ms"]
    assert within(life["started_ms"], life["take"])
    assert within(life["retry_at_ms"], life["fail"], BACKOFF)
    assert life["retried_at"] >= life["retry_at_ms"]
    assert within(life["finished_ms"], life["ack"])
    # The key is kept for its TTL by Redis's clock, then forgotten.
    assert life["early_forgotten"] == 0 or life["early_sweep"][1] >= life["key_expires_ms"]
    assert life["forgotten_by"] >= life["key_expires_ms"]
