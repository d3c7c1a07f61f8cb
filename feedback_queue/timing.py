"""Where the time went: histograms of queue wait and processing time, per kind.

Two histograms, in seconds:
- `fbq_queue_wait_seconds{kind}`: from enqueue to a first attempt's start, both stamped by
  Redis's clock (a delayed submit's wait includes its delay);
- `fbq_processing_seconds{kind,outcome}`: one attempt's run, by the worker's clock; outcome is
  completed, failed (retried or dead), or stopped (cancelled or taken from the worker).

Each worker counts its own (worker_service/metrics.py serves them) and adds what it counted to
the queue's `timing` hash every housekeeping turn (timing.lua: a numbered batch, so a batch
sent again after a lost reply is not counted twice), which the gateway's /metrics renders for
the whole fleet. `kind` is the submitter's to choose: the first FBQ_METRICS_KINDS kinds a
worker meets are labelled as they are, later ones as "other".
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

WAIT, PROCESSING = "fbq_queue_wait_seconds", "fbq_processing_seconds"
# Upper bounds of the buckets (the last one, +Inf, is implied): from milliseconds to an hour.
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
OUTCOMES = ("completed", "failed", "stopped")
HELP = {
    WAIT: "From enqueue to a first attempt's start (Redis's clock), per kind",
    PROCESSING: "One attempt's run (its worker's clock), per kind and outcome",
}
OTHER = "other"
DEFAULT_KINDS = 20


def bucket_of(seconds: float) -> int:
    """The index of the bucket `seconds` falls in (len(BOUNDS): +Inf)."""
    return bisect_left(BOUNDS, seconds)


@dataclass
class Series:
    """One histogram's counts for one set of labels: per bucket (not cumulative), sum, count."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS) + 1))
    sum: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, seconds: float) -> None:
        self.counts[bucket_of(seconds)] += 1
        self.sum += seconds

    def add(self, other: Series) -> None:
        """Count `other`'s observations too (another shard's)."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.sum += other.sum

    def buckets(self) -> list[tuple[str, float]]:
        """Prometheus's cumulative buckets: (upper bound, count at or below it), +Inf last."""
        out, total = [], 0
        for bound, n in zip([*(f"{b:g}" for b in BOUNDS), "+Inf"], self.counts, strict=True):
            total += n
            out.append((bound, float(total)))
        return out


@dataclass(frozen=True)
class Histogram:
    """A histogram as read back from Redis: its name, labels and counts."""

    name: str
    labels: tuple[tuple[str, str], ...]
    series: Series


class Kinds:
    """The kind label: the first `limit` kinds as they are, the rest as "other"."""

    def __init__(self, limit: int = DEFAULT_KINDS) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, kind: str) -> str:
        # "|" separates the parts of the timing hash's fields: a kind may not carry one.
        kind = (kind or "default").replace("|", "_")
        if kind in self.seen:
            return kind
        if len(self.seen) < self.limit and kind != OTHER:
            self.seen.add(kind)
            return kind
        return OTHER


class Tally:
    """What a worker counted since its last batch went to Redis: field -> increment, in the
    form timing.lua adds (`<name>|<labels>|<bucket>`, `...|sum`)."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, tuple[str, ...]], Series] = defaultdict(Series)

    def observe(self, name: str, labels: tuple[str, ...], seconds: float) -> None:
        self.series[(name, labels)].observe(max(seconds, 0.0))

    def take(self) -> list[tuple[str, float]]:
        """The increments counted so far (the tally starts over), as field, increment pairs."""
        taken, self.series = self.series, defaultdict(Series)
        out: list[tuple[str, float]] = []
        for (name, labels), series in taken.items():
            prefix = "|".join((name, *labels))
            out += [(f"{prefix}|{i}", n) for i, n in enumerate(series.counts) if n]
            out.append((f"{prefix}|sum", series.sum))
        return out


LABELS = {WAIT: ("kind",), PROCESSING: ("kind", "outcome")}


def parse(fields: Iterable[tuple[str, str]]) -> list[Histogram]:
    """The histograms of the `timing` hash's fields (HGETALL), by name and labels."""
    found: dict[tuple[str, tuple[str, ...]], Series] = defaultdict(Series)
    for key, value in fields:
        name, *rest = key.split("|")
        names = LABELS.get(name)
        if names is None or len(rest) != len(names) + 1:
            continue  # not ours (a newer version's)
        *labels, slot = rest
        series = found[(name, tuple(labels))]
        if slot == "sum":
            series.sum = float(value)
        elif slot.isdigit() and int(slot) <= len(BOUNDS):
            series.counts[int(slot)] = int(float(value))
    return [
        Histogram(name, tuple(zip(LABELS[name], labels, strict=True)), series)
        for (name, labels), series in sorted(found.items())
    ]


def bounds_with_inf() -> list[float]:
    return [*BOUNDS, math.inf]
