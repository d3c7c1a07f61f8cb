"""Where the chaos tests' counts go: stdout, a report file, and pytest's terminal summary.

The file, `tests/chaos/artifacts/chaos-report.txt`, is rewritten by each session (the folder is
ignored by git); the summary hook in conftest.py prints the same lines at the end of the run, so
the counts are there with or without `-s`.
"""

from __future__ import annotations

import time
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
REPORT = ARTIFACTS / "chaos-report.txt"
LINES: list[str] = []


def report(name: str, text: str) -> None:
    line = f"{name}: {text}"
    ARTIFACTS.mkdir(exist_ok=True)
    with REPORT.open("a" if LINES else "w") as file:
        file.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
    LINES.append(line)
    print(line, flush=True)
