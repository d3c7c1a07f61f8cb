"""The caps' arithmetic, the stream read-ahead and the refusal log, without gRPC or Redis."""

from __future__ import annotations

import asyncio
import logging

import pytest

from feedback_queue.errors import Overloaded
from feedback_queue.refusal import refusal_for
from feedback_queue.settings import Bounds, Settings
from ingest_service.bounds import RefusalLog
from ingest_service.caps import Cap, Caps
from ingest_service.readahead import ReadAhead
from tests.conftest import FakeClock


def test_a_principal_at_its_cap_is_refused_while_another_is_served() -> None:
    streams = Caps.from_bounds(Bounds(max_streams=3, max_streams_per_principal=2)).streams
    streams.take("flooder")
    streams.take("flooder")
    with pytest.raises(Overloaded) as over:
        streams.take("flooder")
    assert over.value.reason == "TOO_MANY_STREAMS"
    assert "FBQ_MAX_STREAMS_PER_PRINCIPAL" in str(over.value)
    streams.take("honest")  # the third slot of the total is the other principal's
    with pytest.raises(Overloaded) as full:
        streams.take("third")
    assert "FBQ_MAX_STREAMS)" in str(full.value)
    streams.give_back("flooder")
    streams.take("third")
    assert streams.held_total == 3
    assert dict(streams.held) == {"flooder": 1, "honest": 1, "third": 1}


def test_a_refusal_is_resource_exhausted_with_its_reason_and_a_retry_delay() -> None:
    refusal = refusal_for(Overloaded("TOO_MANY_WATCHES", "too many", 1.0))
    assert refusal.code.name == "RESOURCE_EXHAUSTED"
    assert refusal.reason == "TOO_MANY_WATCHES"
    assert refusal.retry_after_ms == 1000


def test_request_bytes_one_request_always_fits_then_the_budget_counts() -> None:
    budget = Cap("TOO_MANY_REQUEST_BYTES", "bytes", 100, 60, "FBQ_MAX_REQUEST_BYTES", bytes_=True)
    budget.take("a", 500)  # alone and larger than every cap: let through
    with pytest.raises(Overloaded):
        budget.take("b", 1)  # the total is over
    budget.give_back("a", 500)
    budget.take("a", 50)
    with pytest.raises(Overloaded) as mine:
        budget.take("a", 20)  # a's own 60
    assert "FBQ_MAX_REQUEST_BYTES_PER_PRINCIPAL" in str(mine.value)
    budget.take("b", 50)  # b holds nothing: its first request fits its own cap
    assert budget.held_total == 100


def test_every_bound_is_read_from_its_variable() -> None:
    env = {
        "FBQ_MAX_CALLS": "7",
        "FBQ_MAX_STREAMS_PER_PRINCIPAL": "3",
        "FBQ_MAX_WATCHES": "9",
        "FBQ_STREAM_READ_AHEAD_BYTES": "65536",
        "FBQ_REDIS_MAX_CONNECTIONS": "12",
        "FBQ_REDIS_POOL_TIMEOUT": "250ms",
        "FBQ_MAX_RESULT_BYTES": "2048",
    }
    bounds = Settings.from_env(env).bounds
    assert (bounds.max_calls, bounds.max_streams_per_principal, bounds.max_watches) == (7, 3, 9)
    assert bounds.stream_read_ahead_bytes == 65536
    assert (bounds.redis_max_connections, bounds.redis_pool_timeout) == (12, 0.25)
    assert bounds.max_result_bytes == 2048


async def test_the_read_ahead_waits_for_room_and_takes_one_request_whatever_its_size() -> None:
    ahead: ReadAhead[str] = ReadAhead(max_bytes=100)
    await ahead.put("huge", 1000)  # nothing held: it fits
    blocked = asyncio.create_task(ahead.put("next", 10))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    assert await ahead.take(10) == [("huge", 1000)]
    await asyncio.sleep(0.01)
    assert not blocked.done(), "taken is not written: its bytes still count"
    await ahead.release(1000)
    await asyncio.wait_for(blocked, 1)
    await ahead.put("more", 80)
    third = asyncio.create_task(ahead.put("over", 20))
    await asyncio.sleep(0.01)
    assert not third.done()  # 10 + 80 + 20 > 100
    assert [item for item, _ in await ahead.take(10)] == ["next", "more"]
    await ahead.release(90)
    await asyncio.wait_for(third, 1)
    assert ahead.held == 20


def test_refusals_are_logged_once_per_reason_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    refusals = RefusalLog(every=10.0, clock=clock)
    over = Overloaded("TOO_MANY_WATCHES", "you have 128 WatchSubmission calls open")
    with caplog.at_level(logging.WARNING, logger="ingest_service.bounds"):
        for _ in range(1000):
            refusals.refused("WatchSubmission", "flooder", over)
        clock.advance(10.0)
        refusals.refused("WatchSubmission", "flooder", over)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "TOO_MANY_WATCHES for principal flooder" in lines[0]
    assert "(and 999 more like it since the last such line)" in lines[1]
