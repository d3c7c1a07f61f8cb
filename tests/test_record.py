"""The job record codec: Python and the Lua prelude must read and write the same bytes."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from feedback_queue import record
from feedback_queue.job import Status
from feedback_queue.scripts import source
from feedback_queue.v1 import queue_pb2 as pb


def test_new_record_round_trips() -> None:
    raw = record.encode_new(b"payload", Status.WAITING, 1_750_000_000_123)
    assert len(raw) == record.HEADER_SIZE + 7
    rec = record.decode(raw)
    assert (rec.status, rec.attempts, rec.enqueued_ms, rec.payload) == (
        Status.WAITING,
        0,
        1_750_000_000_123,
        b"payload",
    )


def test_delayed_record_carries_run_at() -> None:
    raw = record.encode_new(b"p", Status.DELAYED, 5, run_at_ms=1_750_000_099_000)
    rec = record.decode(raw)
    assert (rec.payload, rec.run_at_ms) == (b"p", 1_750_000_099_000)


def test_a_queued_record_is_header_and_payload_only() -> None:
    # The memory budget depends on it: no length field, no extras until a job starts.
    payload = bytes(range(200))
    raw = record.encode_new(payload, Status.WAITING, 1)
    assert raw == bytes([0x10, Status.WAITING, 0, 0, 0, 0, 0, 0, 0, 1]) + payload


def test_unknown_format_is_refused() -> None:
    raw = bytearray(record.encode_new(b"p", 1, 5))
    raw[0] = 0x90
    with pytest.raises(ValueError, match="format 9"):
        record.decode(bytes(raw))


def test_status_numbers_match_the_proto_and_the_lua_prelude() -> None:
    prelude = source("take").split("\n", 8)
    line = next(x for x in prelude if x.startswith("local WAITING"))
    assert line == "local WAITING, ACTIVE, DELAYED, COMPLETED, FAILED, CANCELLED = 1, 2, 3, 4, 5, 6"
    numbers = [pb.WAITING, pb.ACTIVE, pb.DELAYED, pb.COMPLETED, pb.FAILED, pb.CANCELLED]
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert [s.value for s in Status] == [1, 2, 3, 4, 5, 6]


async def test_lua_rewrites_what_python_wrote(client: Redis) -> None:
    # The prelude's decode + encode, with extras added, must be readable by Python.
    script = (
        source("promote").split("\n-- Move delayed jobs whose time has come")[0]
        + """
local rec = rec_decode(ARGV[1])
rec.status = ACTIVE
rec.attempts = rec.attempts + 2
rec.extra.w = 'worker-1'
rec.extra.t = 1750000000999
rec.extra.x = 'boom \\226\\156\\147'
rec.extra.r = '{"score": 1}'
return rec_encode(rec)
"""
    )
    payload = pb.Submission(submitter_id="s", content="é" * 100).SerializeToString()
    raw = record.encode_new(payload, Status.WAITING, 1_750_000_000_123)
    out = await client.eval(script, 0, raw)
    rec = record.decode(out)
    assert rec.payload == payload
    assert (rec.status, rec.attempts, rec.enqueued_ms) == (Status.ACTIVE, 2, 1_750_000_000_123)
    assert (rec.worker, rec.started_ms, rec.error, rec.result) == (
        "worker-1",
        1_750_000_000_999,
        "boom ✓",
        '{"score": 1}',
    )
