"""Redis's CPU use as a rate, from successive INFO readings, judged in Redis's own time.

INFO gives the CPU seconds the server has used since it started (`used_cpu_user`,
`used_cpu_sys`: its own threads, not the children it forks to save) and its clock
(`server_time_usec`, Redis 6.2+). Two readings give the fraction of one core it used between
them; no host clock takes part. The functions here are pure; `CpuSampler` only remembers the
readings of the process that reports health (ingest), so a report can tell the rate since the
last one, and whether it stayed high over a whole window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

# How far back the readings go: the sustained-high warning needs the whole window covered.
CPU_WINDOW = 60.0
# Readings closer together than this are merged into one interval: a rate over a few
# milliseconds says more about the INFO call itself than about the load.
MIN_INTERVAL = 1.0
# A bound whatever the intervals: the oldest readings go first.
MAX_SAMPLES = 256


@dataclass(frozen=True)
class CpuSample:
    """One INFO reading: the CPU seconds used so far, at Redis's time, by one server process."""

    clock: float  # seconds, Redis's server_time_usec
    user: float
    sys: float
    run_id: str = ""  # another run_id is another process (a restart, a failover)


@dataclass(frozen=True)
class CpuUse:
    """What the report says of the CPU: the totals, and the rate once two readings exist."""

    user_seconds: float = 0.0
    sys_seconds: float = 0.0
    utilization: float | None = None  # fraction of one core over the interval; None: unknown
    interval_seconds: float | None = None


def _number(info: Mapping[str, object], key: str) -> float | None:
    value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def sample_of(info: Mapping[str, object]) -> CpuSample | None:
    """The reading in one INFO, or None when it lacks the clock or the CPU figures."""
    clock = _number(info, "server_time_usec")
    user, sys = _number(info, "used_cpu_user"), _number(info, "used_cpu_sys")
    if clock is None or user is None or sys is None:
        return None
    return CpuSample(clock / 1e6, user, sys, str(info.get("run_id", "")))


def rate(earlier: CpuSample, later: CpuSample) -> float:
    """The fraction of one core used between two readings of the same process."""
    spent = (later.user - earlier.user) + (later.sys - earlier.sys)
    return max(0.0, spent / (later.clock - earlier.clock))


def retain(
    samples: Sequence[CpuSample],
    new: CpuSample,
    *,
    window: float = CPU_WINDOW,
    min_interval: float = MIN_INTERVAL,
) -> tuple[CpuSample, ...]:
    """The readings to keep once `new` arrives, oldest first.

    Another process (run_id) starts over. A reading no newer than the last (two reports racing)
    is dropped; a newer one with counters that went back starts over too. Every interval but
    the newest is at least `min_interval` long: a reading replaces the newest one while that
    one's interval is still shorter. The oldest kept reading is the last one at least `window`
    old, so the readings cover the window once it has passed.
    """
    if not samples:
        return (new,)
    last = samples[-1]
    if new.run_id != last.run_id:
        return (new,)
    if new.clock <= last.clock:  # before the counters: a late reading has lower ones too
        return tuple(samples)
    if new.user < last.user or new.sys < last.sys:
        return (new,)
    kept = list(samples)
    if len(kept) >= 2 and kept[-1].clock - kept[-2].clock < min_interval:
        kept[-1] = new
    else:
        kept.append(new)
    while len(kept) > MAX_SAMPLES or (len(kept) > 2 and kept[1].clock <= new.clock - window):
        kept.pop(0)
    return tuple(kept)


def use(samples: Sequence[CpuSample], *, min_interval: float = MIN_INTERVAL) -> CpuUse:
    """The totals of the newest reading and the rate over the last interval: from the newest
    reading back to the latest one at least `min_interval` older, else the oldest there is."""
    if not samples:
        return CpuUse()
    newest = samples[-1]
    totals = CpuUse(newest.user, newest.sys)
    if len(samples) < 2:
        return totals
    start = next(
        (s for s in reversed(samples[:-1]) if newest.clock - s.clock >= min_interval), samples[0]
    )
    return CpuUse(
        newest.user, newest.sys, rate(start, newest), round(newest.clock - start.clock, 3)
    )


def sustained_above(
    samples: Sequence[CpuSample],
    threshold: float,
    *,
    window: float = CPU_WINDOW,
    min_interval: float = MIN_INTERVAL,
) -> bool:
    """Whether every interval of the last `window` used more than `threshold` of a core.

    False until the readings cover the whole window, so neither a fresh process nor a single
    busy interval among quiet ones warns. A newest interval shorter than `min_interval` is
    judged together with the one before it."""
    if len(samples) < 2 or samples[-1].clock - samples[0].clock < window:
        return False
    points = list(samples)
    if len(points) > 2 and points[-1].clock - points[-2].clock < min_interval:
        del points[-2]
    return all(rate(a, b) > threshold for a, b in pairwise(points))


class CpuSampler:
    """The readings one long-lived process has taken, for the next report to compare with."""

    def __init__(self, *, window: float = CPU_WINDOW) -> None:
        self.window = window
        self.samples: tuple[CpuSample, ...] = ()

    def add(self, sample: CpuSample | None) -> tuple[CpuSample, ...]:
        """Remember `sample` (None: an INFO without the figures, nothing to remember)."""
        if sample is not None:
            self.samples = retain(self.samples, sample, window=self.window)
        return self.samples
