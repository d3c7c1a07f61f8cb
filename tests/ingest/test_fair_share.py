"""GetFairShare and SetKeyQuota over a real channel against real Redis: the keys with the most
waiting work, quotas changed at run time, and refusals that say what to fix."""

from __future__ import annotations

import logging
import math
from typing import cast

import grpc
import pytest
from google.rpc import error_details_pb2

from feedback_queue.sharded import ShardedQueue
from feedback_queue.v1 import queue_pb2 as pb
from tests.helpers import submission
from tests.ingest.conftest import Ingest, StartIngest
from tests.ingest.test_submit_batch import details


async def submit_many(ingest: Ingest, counts: dict[str, int], **fields: object) -> None:
    requests = [
        pb.SubmitRequest(submission=submission(f"{key} {i}", submitter_id=key, **fields))
        for key, n in counts.items()
        for i in range(n)
    ]
    reply = await ingest.submissions.SubmitBatch(pb.SubmitBatchRequest(requests=requests))
    assert (reply.accepted, reply.refused) == (len(requests), 0)


def field_of(exc: grpc.aio.AioRpcError) -> str:
    bad = cast(error_details_pb2.BadRequest, details(exc)["BadRequest"])
    return str(bad.field_violations[0].field)


async def test_the_keys_with_the_most_waiting_work_come_first_and_the_rest_is_other(
    ingest: Ingest,
) -> None:
    # Twelve keys: key-00 has 13 waiting, key-01 12, ... key-11 2.
    await submit_many(ingest, {f"key-{i:02}": 13 - i for i in range(12)})
    await submit_many(ingest, {"school-a": 3}, priority=pb.PRIORITY_HIGH)
    await submit_many(ingest, {"school-b": 2}, priority=pb.PRIORITY_LOW)
    share = await ingest.admin.GetFairShare(pb.GetFairShareRequest())  # top 0 means 10
    assert [k.key for k in share.keys] == [f"key-{i:02}" for i in range(10)]
    assert [k.waiting for k in share.keys] == list(range(13, 3, -1))
    assert all(k.active == 0 and k.started == 0 for k in share.keys)
    # key-10 (3), key-11 (2), school-a (3), school-b (2).
    assert (share.other.key, share.other.waiting) == ("", 10)
    assert share.keys_waiting == 14
    assert (share.waiting_high, share.waiting_normal, share.waiting_low) == (3, 90, 2)
    assert (share.defaults.weight, share.defaults.rate, share.defaults.max_active) == (1, 0, 0)
    assert not share.defaults.custom
    assert all(k.quota.key == k.key and not k.quota.custom for k in share.keys)

    top2 = await ingest.admin.GetFairShare(pb.GetFairShareRequest(top=2))
    assert [k.key for k in top2.keys] == ["key-00", "key-01"]
    assert top2.other.waiting == 95 - 13 - 12


async def test_a_start_counts_against_its_key(ingest: Ingest) -> None:
    await submit_many(ingest, {"alone": 2})
    taken = (await ingest.queue.take("w1", 1)).jobs
    assert len(taken) == 1
    share = await ingest.admin.GetFairShare(pb.GetFairShareRequest(top=5))
    assert [(k.key, k.waiting, k.active, k.started) for k in share.keys] == [("alone", 1, 1, 1)]


async def test_top_over_1000_is_refused_with_what_to_fix(ingest: Ingest) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.admin.GetFairShare(pb.GetFairShareRequest(top=1001))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "top: at most 1000 keys (0 lists 10)"
    assert field_of(info.value) == "top"
    assert len((await ingest.admin.GetFairShare(pb.GetFairShareRequest(top=1000))).keys) == 0


async def test_set_key_quota_keeps_what_is_not_given_and_reset_drops_it(
    ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fbq.audit")
    admin = ingest.admin
    first = await admin.SetKeyQuota(pb.SetKeyQuotaRequest(key="school-a", weight=4))
    assert (first.key, first.weight, first.rate, first.max_active, first.custom) == (
        "school-a",
        4,
        0,
        0,
        True,
    )
    second = await admin.SetKeyQuota(pb.SetKeyQuotaRequest(key="school-a", rate=2.5, max_active=3))
    assert (second.weight, second.rate, second.max_active, second.custom) == (4, 2.5, 3, True)
    # Zero is a value (no limit), not "unset": proto3 optional tells them apart.
    third = await admin.SetKeyQuota(pb.SetKeyQuotaRequest(key="school-a", max_active=0))
    assert (third.weight, third.rate, third.max_active) == (4, 2.5, 0)

    await submit_many(ingest, {"school-a": 1, "school-b": 1})
    share = await admin.GetFairShare(pb.GetFairShareRequest())
    by_key = {k.key: k.quota for k in share.keys}
    assert (by_key["school-a"].weight, by_key["school-a"].custom) == (4, True)
    assert (by_key["school-b"].weight, by_key["school-b"].custom) == (1, False)
    assert [(q.key, q.weight, q.rate, q.custom) for q in share.quotas] == [
        ("school-a", 4, 2.5, True)
    ]

    reset = await admin.SetKeyQuota(pb.SetKeyQuotaRequest(key="school-a", reset=True))
    assert (reset.key, reset.weight, reset.rate, reset.max_active, reset.custom) == (
        "school-a",
        1,
        0,
        0,
        False,
    )
    assert list((await admin.GetFairShare(pb.GetFairShareRequest())).quotas) == []
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    assert lines == 4 * [
        "audit who=principal:anonymous action=SetKeyQuota target=key:school-a result=OK"
    ]


@pytest.mark.parametrize(
    ("request_", "field", "text"),
    [
        (pb.SetKeyQuotaRequest(key="a b", weight=2), "key", "key: must be 1-128 characters"),
        (pb.SetKeyQuotaRequest(key="", weight=2), "key", "key: must be 1-128 characters"),
        (pb.SetKeyQuotaRequest(key="k", weight=0), "weight", "weight: must be from 0.001 to 1000"),
        (pb.SetKeyQuotaRequest(key="k", weight=math.nan), "weight", "weight: must be from"),
        (pb.SetKeyQuotaRequest(key="k", rate=-1), "rate", "rate: must be from 0 (no limit)"),
        (
            pb.SetKeyQuotaRequest(key="k", max_active=2_000_000),
            "max_active",
            "max_active: must be from 0 (no limit) to 1000000",
        ),
        (
            pb.SetKeyQuotaRequest(key="k"),
            "weight",
            "weight: none given: set at least one of weight, rate",
        ),
        (
            pb.SetKeyQuotaRequest(key="k", reset=True, rate=1),
            "reset",
            "reset: give it alone (it drops the key's own quota), not with rate",
        ),
    ],
)
async def test_a_bad_quota_is_refused_with_its_field(
    ingest: Ingest,
    caplog: pytest.LogCaptureFixture,
    request_: pb.SetKeyQuotaRequest,
    field: str,
    text: str,
) -> None:
    caplog.set_level(logging.INFO, logger="fbq.audit")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.admin.SetKeyQuota(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith(text)
    assert field_of(info.value) == field
    assert list((await ingest.admin.GetFairShare(pb.GetFairShareRequest())).quotas) == []
    # A refused change is audited with its outcome, as the other steering calls are.
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    assert len(lines) == 1
    assert lines[0].endswith("result=INVALID_ARGUMENT")


async def test_a_sharded_queue_sums_each_key_over_its_shards(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(shards=3)
    queue = ingest.server.queue
    assert isinstance(queue, ShardedQueue)
    # Keyed submissions go to their idempotency key's shard: one submitter over every shard.
    requests = [
        pb.SubmitRequest(
            submission=submission(f"a {i}", submitter_id="school-a", idempotency_key=f"k{i}")
        )
        for i in range(12)
    ] + [
        pb.SubmitRequest(submission=submission(f"b {i}", submitter_id="school-b")) for i in range(5)
    ]
    reply = await ingest.submissions.SubmitBatch(pb.SubmitBatchRequest(requests=requests))
    assert reply.accepted == 17
    holding = [shard for shard in queue.shards if (await shard.fair_share()).keys]
    assert len(holding) >= 2  # spread indeed
    share = await ingest.admin.GetFairShare(pb.GetFairShareRequest(top=1))
    assert [(k.key, k.waiting) for k in share.keys] == [("school-a", 12)]
    assert share.other.waiting == 5
    assert share.waiting_normal == 17

    quota = await ingest.admin.SetKeyQuota(pb.SetKeyQuotaRequest(key="school-a", weight=2))
    assert (quota.weight, quota.custom) == (2, True)
    for shard in queue.shards:  # the key's work may be in any shard: each has the quota
        assert (await shard.fair_share()).quotas["school-a"].weight == 2
    share = await ingest.admin.GetFairShare(pb.GetFairShareRequest())
    assert [(q.key, q.weight) for q in share.quotas] == [("school-a", 2)]
