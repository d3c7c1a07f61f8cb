"""The job record: how one submission's state is stored in its Redis string.

A queued job must be small (the benchmark holds us to at most 350 bytes of Redis memory per
queued job with a 200-byte payload), and the Lua scripts must read and rewrite it atomically.
A Redis hash would be readable by Lua, but a 200-byte field pushes it past the default
``hash-max-listpack-value`` (64) into a hashtable of several hundred bytes. So the record is one
string, a fixed big-endian header that Lua's ``struct`` and Python's ``struct`` both read:

=======  =====  ===========================================================
offset   type   field
=======  =====  ===========================================================
0        u8     format version (1)
1        u8     status (the ``feedback_queue.v1.Status`` number)
2        u16    attempts started
4        u48    enqueued at, ms since the Unix epoch
10       u32    payload length P
14       P      payload: the serialized ``feedback_queue.v1.Submission``
14+P     ...    optional MessagePack map of the rest: w worker, t started ms, f finished ms,
                d run-at ms, x last error, r result
=======  =====  ===========================================================

``scripts/record.lua`` is the Lua half of this codec; tests keep the two in step.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack

FORMAT = 1
_HEADER = struct.Struct(">BBHHII")  # the u48 is written as a u16 high part and a u32 low part
HEADER_SIZE = _HEADER.size
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


def encode_new(payload: bytes, status: int, enqueued_ms: int, run_at_ms: int = 0) -> bytes:
    """The record of a freshly enqueued job: header and payload, and run-at when delayed."""
    if not 0 <= enqueued_ms <= _MAX_U48:
        raise ValueError(f"enqueued_ms out of range: {enqueued_ms}")
    header = _HEADER.pack(
        FORMAT, status, 0, enqueued_ms >> 32, enqueued_ms & 0xFFFFFFFF, len(payload)
    )
    if run_at_ms:
        extra: bytes = msgpack.packb({"d": run_at_ms})
        return header + payload + extra
    return header + payload


def decode(raw: bytes) -> Record:
    """Decode a record written by `encode_new` or by a script."""
    fmt, status, attempts, hi, lo, size = _HEADER.unpack_from(raw)
    if fmt != FORMAT:
        raise ValueError(f"unknown job record format {fmt}")
    end = HEADER_SIZE + size
    payload = raw[HEADER_SIZE:end]
    if len(raw) == end:
        return Record(status, attempts, (hi << 32) | lo, payload)
    extra: dict[str, Any] = msgpack.unpackb(raw[end:], raw=False, unicode_errors="replace")
    return Record(
        status,
        attempts,
        (hi << 32) | lo,
        payload,
        worker=extra.get("w", ""),
        started_ms=int(extra.get("t", 0)),
        finished_ms=int(extra.get("f", 0)),
        run_at_ms=int(extra.get("d", 0)),
        error=extra.get("x", ""),
        result=extra.get("r", ""),
    )


def payload_of(raw: bytes) -> bytes:
    """Only the payload, for the hot path that needs nothing else."""
    size = int.from_bytes(raw[10:HEADER_SIZE], "big")
    return raw[HEADER_SIZE : HEADER_SIZE + size]
