"""A progress report: what a processor says of its running attempt (JobContext.report).

Stored in Redis by progress.lua as "<token>|<ms>|<report>", the report MessagePack of its
non-empty fields; the token names the attempt that made it, so a reader shows it only while
that attempt runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import msgpack
from google.protobuf.timestamp_pb2 import Timestamp

from feedback_queue.v1 import queue_pb2 as pb

MAX_MESSAGE = 200
# A report's partial result at most, by default (FBQ_MAX_PROGRESS_BYTES, Bounds).
MAX_PROGRESS_BYTES = 16 * 1024


def as_result(value: Any) -> str:
    """The stored form of a processor's return value (or partial result): a string as it is,
    None as empty, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Progress:
    percent: float | None = None
    message: str = ""
    partial: str = ""
    updated_ms: int = 0  # by Redis's clock, once stored

    @classmethod
    def made(cls, percent: float | None, message: str, partial: Any, max_bytes: int) -> Progress:
        """A report as a processor gives it; ValueError says what is wrong with it."""
        if percent is not None:
            if isinstance(percent, bool) or not isinstance(percent, int | float):
                raise ValueError(f"percent must be a number from 0 to 100, got {percent!r}")
            if not (math.isfinite(percent) and 0 <= percent <= 100):
                raise ValueError(f"percent must be from 0 to 100, got {percent!r}")
            percent = float(percent)
        if not isinstance(message, str) or len(message) > MAX_MESSAGE:
            raise ValueError(f"message must be a string of at most {MAX_MESSAGE} characters")
        text = as_result(partial)
        if len(text.encode()) > max_bytes:
            raise ValueError(
                f"the partial result is {len(text.encode())} bytes, over the {max_bytes} a "
                "report may carry (FBQ_MAX_PROGRESS_BYTES)"
            )
        return cls(percent, message, text)

    def encode(self) -> bytes:
        fields = {"p": self.percent, "m": self.message, "r": self.partial}
        kept = {k: v for k, v in fields.items() if v not in (None, "")}
        return msgpack.packb(kept, use_bin_type=False)  # type: ignore[no-any-return]

    @classmethod
    def stored(cls, raw: bytes | str) -> tuple[str, Progress]:
        """The token of the attempt that made a stored report, and the report."""
        data = raw.encode() if isinstance(raw, str) else raw
        token, ms, body = data.split(b"|", 2)
        fields = msgpack.unpackb(body, raw=False)
        percent = fields.get("p")
        return token.decode(), cls(
            None if percent is None else float(percent),
            fields.get("m", ""),
            fields.get("r", ""),
            int(ms),
        )

    def to_proto(self, *, abridged: bool = False) -> pb.Progress:
        updated = Timestamp()
        updated.FromMilliseconds(self.updated_ms)
        out = pb.Progress(message=self.message, updated_at=updated)
        if self.percent is not None:
            out.percent = self.percent
        if not abridged:
            out.partial_result = self.partial
        return out
