"""Redis's CPU rate from INFO readings: pure arithmetic over made-up readings, in Redis's time."""

from __future__ import annotations

import pytest

from feedback_queue.redis_cpu import (
    CPU_WINDOW,
    MAX_SAMPLES,
    CpuSample,
    CpuSampler,
    retain,
    sample_of,
    sustained_above,
    use,
)


def series(*rates: float, step: float = 5.0, start: float = 1_000.0) -> list[CpuSample]:
    """Readings `step` seconds apart whose intervals used `rates` of a core, user twice sys."""
    samples = [CpuSample(start, 10.0, 5.0, "r1")]
    for r in rates:
        last = samples[-1]
        spent = r * step
        samples.append(
            CpuSample(last.clock + step, last.user + spent * 2 / 3, last.sys + spent / 3, "r1")
        )
    return samples


def kept(samples: list[CpuSample]) -> tuple[CpuSample, ...]:
    held: tuple[CpuSample, ...] = ()
    for s in samples:
        held = retain(held, s)
    return held


def test_a_reading_from_info() -> None:
    info = {
        "server_time_usec": 1_750_000_000_250_000,
        "used_cpu_user": "12.5",
        "used_cpu_sys": 3.25,
        "run_id": "abc",
    }
    assert sample_of(info) == CpuSample(1_750_000_000.25, 12.5, 3.25, "abc")
    assert sample_of({**info, "server_time_usec": None}) is None  # Redis before 6.2
    assert sample_of({"used_cpu_user": 1.0, "used_cpu_sys": 1.0}) is None


def test_one_reading_has_totals_and_no_rate() -> None:
    got = use(series())
    assert (got.user_seconds, got.sys_seconds) == (10.0, 5.0)
    assert (got.utilization, got.interval_seconds) == (None, None)


def test_the_rate_is_cpu_seconds_over_redis_seconds() -> None:
    got = use(kept(series(0.1, 0.5)))
    assert got.utilization == pytest.approx(0.5)
    assert got.interval_seconds == 5.0
    assert got.user_seconds == pytest.approx(10.0 + (0.1 + 0.5) * 5 * 2 / 3)


def test_a_second_reading_soon_after_gives_a_rate_at_once_then_intervals_grow() -> None:
    first = CpuSample(100.0, 1.0, 1.0, "r")
    soon = CpuSample(100.2, 1.05, 1.05, "r")
    held = kept([first, soon])
    assert use(held).utilization == pytest.approx(0.5)
    assert use(held).interval_seconds == 0.2
    # The short interval grows into one of at least a second instead of piling up.
    later = CpuSample(102.0, 1.2, 1.2, "r")
    assert kept([first, soon, later]) == (first, later)


def test_readings_close_together_keep_the_rate_over_a_second_or_more() -> None:
    held = kept([*series(0.3, 0.3), CpuSample(1_010.01, 100.0, 100.0, "r1")])
    # 10 ms after the last: judged from the reading before it, not over 10 ms.
    assert use(held).interval_seconds == pytest.approx(5.01)


def test_a_restart_or_a_failover_starts_over() -> None:
    held = kept(series(0.5, 0.5))
    other = CpuSample(held[-1].clock + 5, 0.1, 0.1, "r2")
    assert retain(held, other) == (other,)
    assert use(retain(held, other)).utilization is None
    # The same run_id with counters that went back is not trusted either.
    back = CpuSample(held[-1].clock + 5, 0.1, 0.1, "r1")
    assert retain(held, back) == (back,)


def test_a_stale_reading_from_a_racing_report_is_dropped() -> None:
    held = kept(series(0.5, 0.5))
    late = held[-2]
    assert retain(held, CpuSample(late.clock + 1, late.user + 0.1, late.sys, "r1")) == held
    assert retain(held, held[-1]) == held


def test_the_readings_cover_the_window_and_no_more() -> None:
    held = kept(series(*[0.1] * 40))  # 200 s of readings 5 s apart
    assert held[-1].clock - held[0].clock == CPU_WINDOW
    assert held[-1].clock - held[1].clock < CPU_WINDOW
    dense = kept([CpuSample(float(i), i * 0.1, 0.0, "r") for i in range(MAX_SAMPLES * 2)])
    assert len(dense) <= MAX_SAMPLES


def test_sustained_only_when_every_interval_of_the_window_is_above() -> None:
    busy = kept(series(*[0.95] * 13))  # 65 s, all above 0.8
    assert sustained_above(busy, 0.8)
    assert not sustained_above(busy, 0.96)
    # Not before the window is covered: 55 s of it is not a minute.
    assert not sustained_above(kept(series(*[0.95] * 11)), 0.8)


def test_a_single_spike_does_not_warn() -> None:
    assert not sustained_above(kept(series(*[0.1] * 6, 1.0, *[0.1] * 6)), 0.8)
    assert not sustained_above(kept(series(*[0.1] * 12, 1.0)), 0.8)
    # One quiet interval inside a busy minute breaks the run too.
    assert not sustained_above(kept(series(*[0.95] * 6, 0.2, *[0.95] * 6)), 0.8)


def test_one_long_busy_interval_spanning_the_window_is_sustained() -> None:
    # Reports a minute or more apart: the rate is the average of that whole minute.
    assert sustained_above(kept(series(0.9, step=90.0)), 0.8)


def test_a_short_newest_interval_is_judged_with_the_one_before() -> None:
    busy = list(kept(series(*[0.95] * 13)))
    last = busy[-1]
    # 5 ms later, not a cycle of CPU in between: too short to tell anything by itself.
    idle = CpuSample(last.clock + 0.005, last.user, last.sys, "r1")
    assert sustained_above(retain(busy, idle), 0.8)


def test_the_sampler_remembers_between_reports() -> None:
    sampler = CpuSampler()
    readings = series(0.25, 0.25)
    assert sampler.add(readings[0]) == (readings[0],)
    assert sampler.add(None) == (readings[0],)  # an INFO without the figures
    sampler.add(readings[1])
    assert use(sampler.add(readings[2])).utilization == pytest.approx(0.25)
