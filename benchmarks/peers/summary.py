"""Summing up a peers run: the cases measured, medians, ours against the best peer, the
targets checked, and the Markdown report (run.py measures; this module only counts)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

OURS = "Feedback Queue"
# The `how` of our SubmitBatch case (run.py), which the targets look up.
SUBMIT_BATCH = "SubmitBatch (grpc-js), 1,000 per call"
# The `how`s of the Python client's cases.
CLIENT_MANY = "AsyncClient.submit_many"
CLIENT_CALLERS = "AsyncClient.submit, 256 callers, auto-batched"
MEASURES = {
    "enqueue": ("enqueue, one at a time", "jobs/s"),
    "enqueue_bulk": ("enqueue, bulk", "jobs/s"),
    "drain": ("drain, one worker process", "jobs/s"),
    "latency_p50": ("submit→start p50", "ms"),
    "latency_p99": ("submit→start p99", "ms"),
    "memory": ("Redis bytes per queued job", "B"),
}
LOWER_IS_BETTER = {"latency_p50", "latency_p99", "memory"}


@dataclass
class Case:
    system: str
    kind: str  # enqueue | enqueue_bulk | drain | latency | memory
    how: str
    args: list[str]
    jobs: int = 0
    runs: list[dict[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ours(self) -> bool:
        return self.system.startswith(OURS)


def rows(all_cases: list[Case]) -> list[dict[str, Any]]:
    """One row per (case, figure): medians, spreads, and ours against the best peer."""
    out: list[dict[str, Any]] = []
    for case in all_cases:
        figures = {
            "enqueue": [("enqueue", "jobs_per_s")],
            "enqueue_bulk": [("enqueue_bulk", "jobs_per_s")],
            "drain": [("drain", "jobs_per_s")],
            "latency": [("latency_p50", "p50_ms"), ("latency_p99", "p99_ms")],
            "memory": [("memory", "bytes_per_job")],
        }[case.kind]
        for measure_, key in figures:
            values = [run[key] for run in case.runs]
            out.append(
                {
                    "measure": measure_,
                    "system": case.system,
                    "how": case.how,
                    "jobs": case.jobs,
                    "unit": MEASURES[measure_][1],
                    "values": values,
                    "median": statistics.median(values) if values else None,
                    "errors": case.errors,
                    "ours": case.ours,
                }
            )
    for measure_ in MEASURES:
        peers = [r for r in out if r["measure"] == measure_ and not r["ours"] and r["median"]]
        # A bulk figure of ours is held against the best peer at all, single or bulk.
        if measure_ == "enqueue_bulk":
            peers += [r for r in out if r["measure"] == "enqueue" and not r["ours"] and r["median"]]
        if not peers:
            continue
        pick = min if measure_ in LOWER_IS_BETTER else max
        best = pick(peers, key=lambda r: r["median"])
        for row in out:
            if row["measure"] == measure_ and row["ours"] and row["median"]:
                row["best_peer"] = f"{best['system']} ({best['how']})"
                row["ratio"] = row["median"] / best["median"]
    return out


def targets(table: list[dict[str, Any]]) -> list[str]:
    """The comparison's targets, each checked against this run's medians."""

    def best(measure_: str, pick: Any, where: Any) -> float | None:
        found = [
            r["median"] for r in table if r["measure"] == measure_ and r["median"] and where(r)
        ]
        return pick(found) if found else None

    def one(system: str, measure_: str, how: str) -> float | None:
        return best(measure_, max, lambda r: r["system"] == system and r["how"] == how)

    ours_drain = best("drain", max, lambda r: r["ours"])
    bull_drain = one("BullMQ", "drain", "concurrency 50")
    python_drain = best("drain", max, lambda r: not r["ours"] and r["system"] != "BullMQ")
    add_bulk = one("BullMQ", "enqueue_bulk", "addBulk")
    streams = [
        (r["how"], r["median"])
        for r in table
        if r["system"] == f"{OURS} gRPC"
        and r["measure"] == "enqueue_bulk"
        and r["median"]
        and r["how"] != SUBMIT_BATCH
    ]
    batch = one(f"{OURS} gRPC", "enqueue_bulk", SUBMIT_BATCH)
    many = one(f"{OURS} client", "enqueue_bulk", CLIENT_MANY)
    callers = one(f"{OURS} client", "enqueue", CLIENT_CALLERS)
    ours_bytes = best("memory", min, lambda r: r["ours"])
    peer_bytes = best("memory", min, lambda r: not r["ours"])
    # (target, ours, the peer's, the ratio ours / peer must reach, or stay under when negative)
    checks = [
        ("our drain >= 2x BullMQ at concurrency 50", ours_drain, bull_drain, 2.0),
        ("our drain >= 5x the best Python peer", ours_drain, python_drain, 5.0),
        *((f"gRPC {how} >= BullMQ addBulk", rate, add_bulk, 1.0) for how, rate in streams),
        ("SubmitBatch grpc-js >= 2x BullMQ addBulk", batch, add_bulk, 2.0),
        ("AsyncClient.submit_many >= 1.5x BullMQ addBulk", many, add_bulk, 1.5),
        ("AsyncClient.submit, 256 callers >= BullMQ addBulk", callers, add_bulk, 1.0),
        ("our bytes per queued job below every peer's", ours_bytes, peer_bytes, -1.0),
    ]
    lines = []
    for name, ours_value, peer_value, bound in checks:
        if ours_value is None or peer_value is None:
            lines.append(f"- {name}: not measured")
            continue
        ratio = ours_value / peer_value
        met = ratio >= bound if bound > 0 else ratio < -bound
        lines.append(f"- {name}: {ratio:.2f}x, {'met' if met else 'NOT met'}")
    for system in (f"{OURS} core", f"{OURS} gRPC"):
        p99 = best("latency_p99", min, lambda r, s=system: r["system"] == s)
        if p99 is not None:
            verdict = "met" if p99 < 10 else "NOT met"
            lines.append(f"- {system}: submit→start p99 < 10 ms: {p99:.1f} ms, {verdict}")
    return lines


def markdown(table: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        f"# Feedback Queue and its peers, {info['started']}",
        "",
        f"Machine: {info['machine']['cores']} cores, {info['machine']['cpu']}, "
        f"{info['machine']['ram_gib']} GiB RAM; load average {info['load_before']} before, "
        f"{info['load_after']} after; 1-minute load after each case: {info['load_during']}.",
    ]
    if info["note"]:
        lines.append(f"Conditions: {info['note']}")
    params = info["params"]
    lines += [
        f"Runs: {params['runs']} of each case, medians (min-max); {params['jobs']} jobs for "
        f"enqueue and drain (fewer where a worker is slow: see jobs); latency at "
        f"{params['rate']:g} jobs/s for {params['seconds']:g} s; memory with "
        f"{params['memory_jobs']} jobs of 200 bytes on a fresh server without AOF.",
        "",
        "| measure | system | how | jobs | median | min-max | ours ÷ best peer |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    drains: dict[str, float] = {}
    for row in table:
        if row["measure"] == "drain" and row["median"]:
            drains[row["system"]] = max(drains.get(row["system"], 0.0), row["median"])
    drains[f"{OURS} gRPC"] = drains.get(f"{OURS} core", 0.0)
    saturated = {name: rate for name, rate in drains.items() if rate < params["rate"]}
    order = list(MEASURES)
    for row in sorted(table, key=lambda r: (order.index(r["measure"]), r["ours"])):
        name, unit = MEASURES[row["measure"]]
        if row["median"] is None:
            value, spread = "failed", ""
        else:
            digits = 1 if unit == "ms" else 0
            value = f"{row['median']:,.{digits}f} {unit}"
            spread = f"{min(row['values']):,.{digits}f}-{max(row['values']):,.{digits}f}"
        ratio = ""
        if "ratio" in row:
            better = "lower is better" if row["measure"] in LOWER_IS_BETTER else "higher is better"
            ratio = f"**{row['ratio']:.2f}x** {row['best_peer']} ({better})"
        if row["measure"].startswith("latency") and row["system"] in saturated:
            ratio = f"offered load above its drain rate ({saturated[row['system']]:,.0f}/s)"
        system = f"**{row['system']}**" if row["ours"] else row["system"]
        jobs = f"{row['jobs']:,}" if row["jobs"] else ""
        lines.append(
            f"| {name} | {system} | {row['how']} | {jobs} | {value} | {spread} | {ratio} |"
        )
    lines += ["", "The targets, in this run:", "", *info["targets"]]
    lines += ["", "Versions: " + "; ".join(f"{k} {v}" for k, v in info["versions"].items()), ""]
    return "\n".join(lines)
