"""AsyncClient.fair_share / set_quota and Client's twins against a real ingest and Redis."""

from __future__ import annotations

import asyncio

import pytest

from feedback_queue.client import AsyncClient, Client, InvalidArgument
from tests.client.conftest import address
from tests.ingest.conftest import Ingest


async def test_fair_share_and_set_quota(aclient: AsyncClient) -> None:
    for who, n in (("school-a", 3), ("school-b", 1)):
        for i in range(n):
            await aclient.submit(f"essay {i}", who)
    share = await aclient.fair_share()
    assert [(k.key, k.waiting) for k in share.keys] == [("school-a", 3), ("school-b", 1)]
    assert share.keys_waiting == 2
    assert (await aclient.fair_share(1)).other.waiting == 1

    quota = await aclient.set_quota("school-b", weight=3, max_active=2)
    assert (quota.key, quota.weight, quota.rate, quota.max_active, quota.custom) == (
        "school-b",
        3,
        0,
        2,
        True,
    )
    kept = await aclient.set_quota("school-b", rate=0.5)
    assert (kept.weight, kept.rate, kept.max_active) == (3, 0.5, 2)
    listed = {k.key: k.quota for k in (await aclient.fair_share()).keys}
    assert (listed["school-b"].weight, listed["school-b"].custom) == (3, True)

    with pytest.raises(InvalidArgument) as info:
        await aclient.set_quota("school-b", weight=-1)
    assert info.value.field == "weight"
    with pytest.raises(InvalidArgument, match="top: at most 1000"):
        await aclient.fair_share(5000)

    reset = await aclient.set_quota("school-b", reset=True)
    assert (reset.weight, reset.max_active, reset.custom) == (1, 0, False)


async def test_the_sync_client_sets_and_reads_quotas(ingest: Ingest) -> None:
    def sync_calls() -> None:  # in a thread: this loop serves ingest
        with Client(address(ingest)) as client:
            client.submit("Sync words.", "tenant:free")
            assert [k.key for k in client.fair_share(top=5).keys] == ["tenant:free"]
            quota = client.set_quota("tenant:free", rate=2)
            assert (quota.rate, quota.custom) == (2, True)
            assert [q.key for q in client.fair_share().quotas] == ["tenant:free"]
            with pytest.raises(InvalidArgument, match="key: must be"):
                client.set_quota("not a key", weight=1)

    await asyncio.to_thread(sync_calls)
