"""Counting what callers hold against caps, per principal and in total: pure, no gRPC.

A `Cap` counts units (calls, streams, watches, or request bytes). `take` either counts the
amount or raises `Overloaded` naming the cap, its variable and the stable reason; `give_back`
returns it. A caller holding nothing may always take one request's bytes, so a request larger
than a byte cap is not refused forever (gRPC's own message limit bounds it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from feedback_queue.errors import Overloaded
from feedback_queue.settings import Bounds

# How long a refused caller is told to wait (RetryInfo): caps free up as calls end.
RETRY_AFTER = 1.0


@dataclass
class Cap:
    """One kind of unit, capped per principal and in total."""

    reason: str  # the stable ErrorInfo reason, e.g. TOO_MANY_STREAMS
    what: str  # "SubmitStream calls open", for the message
    total: int
    per_principal: int
    variable: str  # the setting of the total; its per-principal twin adds _PER_PRINCIPAL
    bytes_: bool = False  # a byte budget: one request always fits for a caller holding none
    held: Counter[str] = field(default_factory=Counter)
    held_total: int = 0

    def take(self, principal: str, amount: int = 1) -> None:
        """Count `amount` for `principal`, or raise Overloaded and count nothing."""
        mine = self.held[principal]
        if self.bytes_ and mine == 0 and self.held_total == 0:
            pass  # the only request in flight: let it through whatever its size
        elif mine + amount > self.per_principal and not (self.bytes_ and mine == 0):
            raise self._refusal(f"{self.variable}_PER_PRINCIPAL", self.per_principal, "you have")
        elif self.held_total + amount > self.total:
            raise self._refusal(self.variable, self.total, "all callers have")
        self.held[principal] = mine + amount
        self.held_total += amount

    def give_back(self, principal: str, amount: int = 1) -> None:
        left = self.held[principal] - amount
        if left > 0:
            self.held[principal] = left
        else:
            del self.held[principal]
        self.held_total -= amount

    def _refusal(self, variable: str, cap: int, who: str) -> Overloaded:
        unit = "bytes of requests in flight" if self.bytes_ else self.what
        return Overloaded(
            self.reason,
            f"{who} {cap} {unit}, the most ingest allows ({variable}); "
            f"retry in {RETRY_AFTER:g}s, or spread the load over fewer calls",
            RETRY_AFTER,
        )


@dataclass
class Caps:
    """Every cap of one ingest process, built from the settings."""

    calls: Cap
    streams: Cap
    watches: Cap
    request_bytes: Cap

    @classmethod
    def from_bounds(cls, b: Bounds) -> Caps:
        return cls(
            calls=Cap(
                "TOO_MANY_CALLS",
                "calls in flight",
                b.max_calls,
                b.max_calls_per_principal,
                "FBQ_MAX_CALLS",
            ),
            streams=Cap(
                "TOO_MANY_STREAMS",
                "SubmitStream calls open",
                b.max_streams,
                b.max_streams_per_principal,
                "FBQ_MAX_STREAMS",
            ),
            watches=Cap(
                "TOO_MANY_WATCHES",
                "WatchSubmission calls open",
                b.max_watches,
                b.max_watches_per_principal,
                "FBQ_MAX_WATCHES",
            ),
            request_bytes=Cap(
                "TOO_MANY_REQUEST_BYTES",
                "bytes",
                b.max_request_bytes,
                b.max_request_bytes_per_principal,
                "FBQ_MAX_REQUEST_BYTES",
                bytes_=True,
            ),
        )
