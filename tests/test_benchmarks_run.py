"""The benchmarks still run: a tiny round of each that starts its own services.

Figures are not asserted (speed is measured in benchmarks/, not tested); what is tested is that
the script starts its Redis and ingest, drives every measure and prints them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "benchmarks.ingest_throughput"]


def test_ingest_throughput_runs_every_measure() -> None:
    done = subprocess.run(
        [*COMMAND, "--jobs", "1000", "--latency-calls", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for measure in ("Submit, 32 callers", "SubmitStream, 1 stream", "SubmitBatch of 1000"):
        assert measure in done.stdout
    assert "AsyncClient.submit" in done.stdout
