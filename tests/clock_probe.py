"""A queue client for tests/test_redis_time.py to run under Debian's `faketime`: its host clock
is off, Redis's is not. It runs one job's life (a delayed, keyed submit, promotion, a failure
with a backoff, the retry, the ack, the sweep of the key) and prints, as JSON, what the queue
stamped and what Redis's clock read just before and after each step, for the test to judge.

    faketime -f "+1h" python -m tests.clock_probe PORT QUEUE
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from feedback_queue.backoff import Backoff
from feedback_queue.connection import create_client
from feedback_queue.queue import Failure, Queue
from feedback_queue.settings import QueueConfig, RedisSettings
from tests.helpers import redis_ms, submission

DELAY, BACKOFF, IDEMPOTENCY_TTL = 0.1, 0.2, 0.3


async def until(step: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Repeat `step` until it says done (monotonic deadline: faketime shifts it, not its pace)."""
    deadline = time.monotonic() + within
    while not await step():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {step}")
        await asyncio.sleep(0.01)


async def life(port: int, name: str) -> dict[str, Any]:
    client = create_client(RedisSettings(host="127.0.0.1", port=port, configured=True))
    config = QueueConfig(
        name=name,
        max_attempts=3,
        backoff=Backoff(base=BACKOFF, cap=BACKOFF),  # at most BACKOFF; retry_after makes it so
        idempotency_ttl=IDEMPOTENCY_TTL,
    )
    queue = Queue(client, config, address="test-redis")  # no test clock, as in the services
    out: dict[str, Any] = {"host_ms": int(time.time() * 1000)}

    async def around(key: str, step: Awaitable[Any]) -> Any:
        before = await redis_ms(client)
        result = await step
        out[key] = (before, await redis_ms(client))
        return result

    job_id = (await around("enqueue", queue.enqueue(submission(idempotency_key="k"), DELAY))).id
    record = (await queue.get(job_id)).record
    out["enqueued_ms"], out["run_at_ms"] = record.enqueued_ms, record.run_at_ms
    out["key_expires_ms"] = await client.zscore(queue.keys.idem_expiry, "k")
    out["early_forgotten"] = (await around("early_sweep", queue.sweep()))[0]
    out["early_promotions"] = await around("early_promote", queue.promote_due())
    await until(lambda: _one(queue.promote_due()))
    out["promoted_at"] = await redis_ms(client)
    [taken] = await around("take", queue.reserve("w1"))
    out["started_ms"] = taken.record.started_ms
    await around("fail", queue.fail("w1", [Failure(taken, "flaky", retry_after=BACKOFF)]))
    out["retry_at_ms"] = (await queue.get(job_id)).record.run_at_ms
    await until(lambda: _one(queue.promote_due()))
    out["retried_at"] = await redis_ms(client)
    [again] = await queue.reserve("w1")
    await around("ack", queue.ack("w1", [(again.id, again.token, "ok")]))
    out["finished_ms"] = (await queue.get(job_id)).record.finished_ms
    if not out["early_forgotten"]:
        await until(lambda: _one(_forgotten(queue)))
    out["forgotten_by"] = await redis_ms(client)
    await client.aclose()
    return out


async def _one(count: Awaitable[int]) -> bool:
    return await count == 1


async def _forgotten(queue: Queue) -> int:
    return (await queue.sweep())[0]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(life(int(sys.argv[1]), sys.argv[2]))))
