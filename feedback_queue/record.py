"""The job record: how one submission's state is stored in its Redis string.

A queued job must be small (the benchmark holds us to at most 350 bytes of Redis memory per
queued job with a 200-byte payload), and the Lua scripts must read and rewrite it atomically.
A Redis hash would be readable by Lua, but a 200-byte field pushes it past the default
``hash-max-listpack-value`` (64) into a hashtable of several hundred bytes. So the record is one
string: a fixed big-endian header that Lua's ``struct`` and Python's ``struct`` both read, the
payload, and only once a job has started the rest, as MessagePack with its length at the very
end (so a queued job carries no length field at all):

=========  =====  =========================================================
offset     type   field
=========  =====  =========================================================
0          u8     flags: high nibble the format version (1), bit 0 "has extras"
1          u8     status (the ``feedback_queue.v1.Status`` number)
2          u16    attempts started
4          u48    enqueued at, ms since the Unix epoch
10         P      payload: the serialized ``feedback_queue.v1.Submission``
10+P       E      only with bit 0: MessagePack map of the rest: w worker, t started ms,
                  f finished ms, d run-at ms, x last error, r result, k the token
                  of the attempt that completed it, o the principal that submitted
                  it (only when ingest knows one), c the W3C traceparent of the
                  Submit that made it (only while tracing is on)
10+P+E     u32    only with bit 0: E
=========  =====  =========================================================

Every byte counts: with a 200-byte payload this layout keeps a queued job's string under
malloc's 224-byte size class.

``scripts/lib/codec.lua`` is the Lua half of this codec; tests keep the two in step.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack

VERSION = 1
_PLAIN = VERSION << 4
_WITH_EXTRAS = _PLAIN | 1
_HEADER = struct.Struct(">BBHHI")  # the u48 is written as a u16 high part and a u32 low part
HEADER_SIZE = _HEADER.size
_TRAILER = struct.Struct(">I")
_MAX_U48 = (1 << 48) - 1


@dataclass(frozen=True, slots=True)
class Record:
    """A decoded job record."""

    status: int
    attempts: int
    enqueued_ms: int
    payload: bytes
    worker: str = ""
    started_ms: int = 0
    finished_ms: int = 0
    run_at_ms: int = 0
    error: str = ""
    result: str = ""
    owner: str = ""
    # The W3C traceparent of the call that submitted it (feedback_queue/tracing.py), or "".
    trace: str = ""


def encode_new(payload: bytes, status: int, enqueued_ms: int, run_at_ms: int = 0) -> bytes:
    """The record of a freshly enqueued job: header and payload, and run-at when delayed."""
    if not 0 <= enqueued_ms <= _MAX_U48:
        raise ValueError(f"enqueued_ms out of range: {enqueued_ms}")
    hi, lo = enqueued_ms >> 32, enqueued_ms & 0xFFFFFFFF
    if not run_at_ms:
        return _HEADER.pack(_PLAIN, status, 0, hi, lo) + payload
    extra: bytes = msgpack.packb({"d": run_at_ms})
    return (
        _HEADER.pack(_WITH_EXTRAS, status, 0, hi, lo) + payload + extra + _TRAILER.pack(len(extra))
    )


def decode(raw: bytes, worker: str = "", started_ms: int = 0) -> Record:
    """Decode a record written by `encode_new` or by a script.

    `worker` and `started_ms`, when given, describe the running attempt (they live outside the
    record while a job is ACTIVE) and win over those of an earlier attempt.
    """
    flags, status, attempts, hi, lo = _HEADER.unpack_from(raw)
    if flags >> 4 != VERSION:
        raise ValueError(f"unknown job record format {flags >> 4}")
    enqueued_ms = (hi << 32) | lo
    if not flags & 1:
        return Record(status, attempts, enqueued_ms, raw[HEADER_SIZE:], worker, started_ms)
    (size,) = _TRAILER.unpack_from(raw, len(raw) - _TRAILER.size)
    extra_at = len(raw) - _TRAILER.size - size
    extra: dict[str, Any] = msgpack.unpackb(
        raw[extra_at : len(raw) - _TRAILER.size], raw=False, unicode_errors="replace"
    )
    return Record(
        status,
        attempts,
        enqueued_ms,
        raw[HEADER_SIZE:extra_at],
        worker=worker or extra.get("w", ""),
        started_ms=started_ms or int(extra.get("t", 0)),
        finished_ms=int(extra.get("f", 0)),
        run_at_ms=int(extra.get("d", 0)),
        error=extra.get("x", ""),
        result=extra.get("r", ""),
        owner=extra.get("o", ""),
        trace=extra.get("c", ""),
    )
