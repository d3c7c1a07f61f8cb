"""AsyncClient's automatic batching, observed from the server: what reached ingest, and what
Redis holds. Calls are held at the server's door (`calls.gate`) to make a moment last, never
slept through."""

from __future__ import annotations

import asyncio

import pytest

from feedback_queue.client import (
    NO_RETRIES,
    AsyncClient,
    DeadlineExceeded,
    InvalidArgument,
    Status,
    Submitted,
    Unavailable,
)
from feedback_queue.up.embedded import EmbeddedRedis
from tests.client.conftest import Calls, address
from tests.ingest.conftest import Ingest, StartIngest


async def contents_in_redis(client: AsyncClient) -> set[str]:
    page = await client.list_submissions(Status.WAITING, page_size=500)
    return {info.submission.content for info in page.submissions}


async def until_pending(client: AsyncClient, n: int) -> None:
    """Until `n` submits wait for the next call. A new task reaches the batcher in its first
    step, one turn of the loop away; nothing else is waited for (no timer)."""
    assert client.batcher is not None
    while client.batcher.pending < n:  # noqa: ASYNC110  (no event to await: a turn of the loop)
        await asyncio.sleep(0)


async def test_a_lone_submit_goes_out_at_once_as_a_unary_submit(
    aclient: AsyncClient, calls: Calls
) -> None:
    for n in range(3):
        await aclient.submit(f"alone {n}", "s1")
    assert (calls.submits, calls.batches) == (3, [])


async def test_concurrent_submits_are_coalesced_into_one_batch(
    aclient: AsyncClient, ingest: Ingest, calls: Calls
) -> None:
    texts = [f"essay {i}" for i in range(120)]
    results = await asyncio.gather(*(aclient.submit(t, f"s{i % 5}") for i, t in enumerate(texts)))
    # The first went out alone at once; the 119 that came while it was in flight, together.
    assert (calls.submits, calls.batches) == (1, [119])
    assert len({r.id for r in results}) == 120
    for text, result in zip(texts, results, strict=True):  # each caller got its own answer
        assert (await ingest.queue.get(result.id)).submission.content == text


async def test_a_coalesced_call_carries_at_most_auto_batch_items(
    ingest: Ingest, calls: Calls
) -> None:
    async with AsyncClient(address(ingest), auto_batch_items=50) as client:
        results = await asyncio.gather(*(client.submit(f"essay {i}", "s1") for i in range(301)))
    assert calls.submits == 1
    assert sorted(calls.batches, reverse=True) == [50] * 6
    assert len({r.id for r in results}) == 301


async def test_each_caller_gets_its_own_refusal(aclient: AsyncClient, calls: Calls) -> None:
    texts = ["good one", "   ", "good two", "", "good three"]
    results = await asyncio.gather(
        *(aclient.submit(t, "s1") for t in texts), return_exceptions=True
    )
    assert (calls.submits, calls.batches) == (1, [4])
    assert [type(r) for r in results] == [
        Submitted,
        InvalidArgument,
        Submitted,
        InvalidArgument,
        Submitted,
    ]
    assert results[1] is not results[3]


async def test_under_load_batches_grow_to_what_arrives_in_a_round_trip(
    ingest: Ingest, calls: Calls
) -> None:
    async with AsyncClient(address(ingest), max_in_flight=1) as client:
        calls.submit_door.gate.clear()
        first = asyncio.create_task(client.submit("first", "s1"))
        await calls.submit_door.arrived.wait()  # in flight, held at the server
        rest = [asyncio.create_task(client.submit(f"next {i}", "s1")) for i in range(50)]
        await until_pending(client, 50)
        calls.submit_door.gate.set()
        await asyncio.gather(first, *rest)
    assert (calls.submits, calls.batches) == (1, [50])


async def test_cancelled_before_sending_is_never_sent_the_others_are(
    ingest: Ingest, calls: Calls
) -> None:
    async with AsyncClient(address(ingest), max_in_flight=1) as client:
        calls.submit_door.gate.clear()
        first = asyncio.create_task(client.submit("first", "s1"))
        await calls.submit_door.arrived.wait()
        tasks = [asyncio.create_task(client.submit(f"item {i}", "s1")) for i in range(20)]
        await until_pending(client, 20)
        cancelled = tasks[::3]  # 7 of them, spread through the batch
        for task in cancelled:
            task.cancel()
        calls.submit_door.gate.set()
        outcomes = await asyncio.gather(first, *tasks, return_exceptions=True)
        in_redis = await contents_in_redis(client)
    assert calls.batches == [13]
    for i, task in enumerate(tasks):
        if task in cancelled:
            assert isinstance(outcomes[i + 1], asyncio.CancelledError)
            assert f"item {i}" not in in_redis
        else:
            assert isinstance(outcomes[i + 1], Submitted)
            assert f"item {i}" in in_redis
    assert len(in_redis) == 1 + 13


async def test_cancelled_after_sending_the_others_are_unaffected(
    ingest: Ingest, calls: Calls
) -> None:
    async with AsyncClient(address(ingest), max_in_flight=1) as client:
        calls.submit_door.gate.clear()
        first = asyncio.create_task(client.submit("first", "s1"))
        await calls.submit_door.arrived.wait()
        tasks = [asyncio.create_task(client.submit(f"item {i}", "s1")) for i in range(5)]
        await until_pending(client, 5)
        calls.batch_door.gate.clear()
        calls.submit_door.gate.set()
        await first
        await calls.batch_door.arrived.wait()  # the batch of five is sent, held at the server
        assert calls.batches == [5]
        tasks[2].cancel()
        calls.batch_door.gate.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        in_redis = await contents_in_redis(client)
    assert isinstance(outcomes[2], asyncio.CancelledError)
    assert all(isinstance(outcomes[i], Submitted) for i in (0, 1, 3, 4))
    # Sent before the cancel, so it may be in Redis (here it is); its key makes a retry safe.
    assert {f"item {i}" for i in range(5)} <= in_redis


async def test_a_caller_out_of_time_before_sending_is_dropped(ingest: Ingest, calls: Calls) -> None:
    async with AsyncClient(address(ingest), max_in_flight=1) as client:
        calls.submit_door.gate.clear()
        first = asyncio.create_task(client.submit("first", "s1"))
        await calls.submit_door.arrived.wait()
        with pytest.raises(DeadlineExceeded) as info:
            await client.submit("too late", "s1", timeout=0.2)
        calls.submit_door.gate.set()
        await first
        assert await contents_in_redis(client) == {"first"}
    assert str(info.value) == (
        f"ingest at {address(ingest)} did not answer in time (raise the timeout)"
    )
    assert calls.batches == []


async def test_a_shorter_deadline_behind_a_longer_one_still_ends_in_time(
    ingest: Ingest, calls: Calls
) -> None:
    """The batcher keeps one timer, at the nearest deadline: a caller with a short timeout
    that arrives after one with a long timeout moves it earlier."""
    async with AsyncClient(address(ingest), max_in_flight=1) as client:
        calls.submit_door.gate.clear()
        first = asyncio.create_task(client.submit("first", "s1"))
        await calls.submit_door.arrived.wait()
        patient = asyncio.create_task(client.submit("patient", "s1", timeout=60))
        await until_pending(client, 1)
        with pytest.raises(DeadlineExceeded):
            await client.submit("hurried", "s1", timeout=0.2)
        assert not patient.done()
        calls.submit_door.gate.set()
        await first
        assert isinstance(await patient, Submitted)
        assert await contents_in_redis(client) == {"first", "patient"}


async def test_a_failed_batch_gives_each_caller_its_own_exception(
    start_ingest: StartIngest, make_server: type[EmbeddedRedis], calls: Calls
) -> None:
    server = make_server()  # type: ignore[call-arg]
    ingest = await start_ingest(server)
    client = AsyncClient(address(ingest), retry=NO_RETRIES, grpc_retries=False, max_in_flight=1)
    async with client:
        calls.submit_door.gate.clear()
        first = asyncio.create_task(client.submit("first", "s1"))
        await calls.submit_door.arrived.wait()
        tasks = [asyncio.create_task(client.submit(f"item {i}", "s1")) for i in range(4)]
        await until_pending(client, 4)
        server.stop()
        calls.submit_door.gate.set()
        outcomes = await asyncio.gather(first, *tasks, return_exceptions=True)
    assert calls.batches == [4]
    assert all(isinstance(o, Unavailable) for o in outcomes)
    assert len({id(o) for o in outcomes}) == 5
    assert all(o.reason == "STORAGE_UNAVAILABLE" for o in outcomes if isinstance(o, Unavailable))


async def test_without_auto_batch_every_submit_is_unary(ingest: Ingest, calls: Calls) -> None:
    async with AsyncClient(address(ingest), auto_batch=False) as client:
        assert client.batcher is None
        await asyncio.gather(*(client.submit(f"essay {i}", "s1") for i in range(10)))
    assert (calls.submits, calls.batches) == (10, [])
