"""The benchmarks still run: a tiny round of each that starts its own services (or Redis).

Figures are not asserted (speed is measured in benchmarks/, not tested); what is tested is that
the script starts its Redis and ingest, drives every measure and prints them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# benchmarks.fairness in a few seconds: 20 keys, small backlogs, one drain of each kind.
SMALL_FAIRNESS = [
    *("--keys", "20", "--smallest", "2", "--weighted-backlog", "300"),
    *("--probe-backlog", "3000", "--probes", "10", "--drain-jobs", "2000"),
    *("--rounds", "1", "--memory-jobs", "2000"),
]


def run(module: str, *args: str) -> str:
    """Run `python -m benchmarks.<module> args`; its output, once it exited 0."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_ingest_throughput_runs_every_measure() -> None:
    stdout = run("ingest_throughput", "--jobs", "1000", "--latency-calls", "20")
    for measure in ("Submit, 32 callers", "SubmitStream, 1 stream", "SubmitBatch of 1000"):
        assert measure in stdout
    assert "AsyncClient.submit" in stdout


def test_fairness_runs_every_measure() -> None:
    stdout = run("fairness", *SMALL_FAIRNESS)
    for measure in ("Jain's index", "weights 1:2:4", "wait of a fresh key", "drain of"):
        assert measure in stdout
    assert "bytes per waiting job" in stdout
    assert "summary: Jain" in stdout


def test_tracing_runs_off_and_on() -> None:
    stdout = run("tracing", "--jobs", "300", "--rounds", "1")
    assert "tracing on = " in stdout
    assert "spans received: 330 (expected 330" in stdout
