"""The throughput of every system as bars: `plot.py RESULTS.json OUT.png` (peers venv)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = [
    ("enqueue", "enqueue, one at a time"),
    ("enqueue_bulk", "enqueue, bulk API"),
    ("drain", "drain, one worker process (no-op job)"),
]


def main(source: Path, target: Path) -> None:
    data: dict[str, Any] = json.loads(source.read_text())
    rows = [row for row in data["rows"] if row["median"]]
    figure, axes = plt.subplots(len(PANELS), 1, figsize=(10, 12), constrained_layout=True)
    for ax, (measure, title) in zip(axes, PANELS, strict=True):
        shown = sorted((r for r in rows if r["measure"] == measure), key=lambda r: r["median"])
        labels = [f"{r['system']} — {r['how']}" for r in shown]
        colours = ["#d62728" if r["ours"] else "#7f7f7f" for r in shown]
        bars = ax.barh(labels, [r["median"] for r in shown], color=colours)
        ax.bar_label(bars, labels=[f"{r['median']:,.0f}" for r in shown], padding=3, fontsize=8)
        ax.set_title(title)
        ax.set_xlabel("jobs/s (median)")
        ax.tick_params(axis="y", labelsize=8)
        ax.margins(x=0.15)
    machine = data["machine"]
    figure.suptitle(
        f"Feedback Queue (red) and its peers on one Redis — {machine['cores']} cores, "
        f"{machine['cpu']}, {data['started']}",
        fontsize=10,
    )
    figure.savefig(target, dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
