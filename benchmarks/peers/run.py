"""Feedback Queue against the queues people would pick instead, on one local Redis.

    python3 dev.py bench-peers    (.venv/bin/python benchmarks/peers/run.py [--jobs 20000 ...])

Installs the peers (RQ, arq, Celery, dramatiq, saq from requirements.txt into
benchmarks/peers/.venv; BullMQ with `npm ci` into benchmarks/peers/node/), skipping what is
already installed, then starts one redis-server (AOF on, appendfsync everysec, as our other
benchmarks) and measures each system in turn, `--runs` rounds, reporting medians:
  - enqueue jobs/s, one at a time and with the bulk API where there is one
  - drain jobs/s of one worker process on a backlog of no-op jobs, at the system's default
    concurrency and at a high one
  - submit→start latency (p50, p99) at `--rate` jobs/s for `--seconds`, high concurrency
  - Redis bytes per queued job with a 200-byte payload, each on a fresh server without AOF
Each system runs behind the adapter CLI of common.py; workers are processes of their own. The
Markdown table, the JSON and a PNG plot go to benchmarks/results/peers-<time>.*.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: import the project's embedded Redis

from benchmarks.peers.summary import (  # noqa: E402
    CLIENT_CALLERS,
    CLIENT_MANY,
    OURS,
    SUBMIT_BATCH,
    Case,
    markdown,
    rows,
    targets,
)
from feedback_queue.up.embedded import EmbeddedRedis, find_server_binary  # noqa: E402

PEERS_VENV = HERE / ".venv"
PEERS_PY = PEERS_VENV / "bin" / "python"
NODE_DIR = HERE / "node"
RESULTS = ROOT / "benchmarks" / "results"
CASE_TIMEOUT = 1200.0
# The 1-minute load average after each case: other work on the machine shows here.
LOADS: list[float] = []

# Where the peers differ in what "default" and "high" concurrency mean for one worker process.
SYSTEMS: dict[str, dict[str, Any]] = {
    "RQ": {
        "argv": [str(PEERS_PY), "-m", "benchmarks.peers.rq_bench"],
        "single": "Queue.enqueue",
        "bulk": "Queue.enqueue_many",
        # RQ runs one job at a time; its default Worker forks a work horse for each job.
        "default": (0, "Worker (fork per job)", 40),
        "high": (1, "SimpleWorker (no fork)", 10),
    },
    "arq": {
        "argv": [str(PEERS_PY), "-m", "benchmarks.peers.arq_bench"],
        "single": "enqueue_job",
        "default": (0, "max_jobs 10", 10),
        "high": (50, "max_jobs 50", 10),
    },
    "Celery": {
        "argv": [str(PEERS_PY), "-m", "benchmarks.peers.celery_bench"],
        "single": "delay",
        "bulk": "group().apply_async (no bulk API)",
        "default": (0, "prefork, 1 child", 1),
        "high": (50, "threads 50", 1),
    },
    "dramatiq": {
        "argv": [str(PEERS_PY), "-m", "benchmarks.peers.dramatiq_bench"],
        "single": "send",
        "default": (0, "1 process, 8 threads", 1),
        "high": (50, "1 process, 50 threads", 1),
    },
    "saq": {
        "argv": [str(PEERS_PY), "-m", "benchmarks.peers.saq_bench"],
        "single": "enqueue",
        "default": (0, "concurrency 10", 1),
        "high": (50, "concurrency 50", 1),
    },
    "BullMQ": {
        "argv": ["node", str(NODE_DIR / "bullmq" / "bench.mjs")],
        "single": "add",
        "bulk": "addBulk",
        "default": (0, "concurrency 1", 1),
        "high": (50, "concurrency 50", 1),
    },
    f"{OURS} core": {
        "argv": [sys.executable, "-m", "benchmarks.peers.ours"],
        "single": "Queue.enqueue",
        "bulk": "Queue.enqueue_many",
        "default": (0, "worker_service, concurrency 16", 1),
        "high": (64, "worker_service, concurrency 64", 1),
    },
    f"{OURS} gRPC": {
        "argv": [sys.executable, "-m", "benchmarks.peers.ours", "--via", "grpc"],
        "single": "Submit, 1 caller",
        "bulk": "SubmitStream, 1 stream, Python client",
        # The Python grpc client spends more CPU per message than the service: with the grpc-js
        # client the figure is the service's, as BullMQ's is Redis's and ioredis's.
        "bulk_variants": [
            ("SubmitStream, 1 stream, Node client", ["--client", "node"]),
            ("SubmitStream, 4 streams, Node client", ["--client", "node", "--streams", "4"]),
            # Shaped as BullMQ's addBulk is driven: 1,000 a call, each awaited before the next.
            (SUBMIT_BATCH, ["--client", "node", "--call", "batch", "--batch", "1000"]),
        ],
        # The same worker drains either way, and the records are the same: no drain or memory.
        "high": (64, "Submit → worker_service, concurrency 64", 1),
        "latency_only": True,
    },
    # feedback_queue.client from one Python process, against the same ingest.
    f"{OURS} client": {
        "argv": [sys.executable, "-m", "benchmarks.peers.ours", "--via", "client"],
        "single": CLIENT_CALLERS,
        "bulk": CLIENT_MANY,
        "enqueue_only": True,
    },
}


def cases(options: argparse.Namespace) -> list[Case]:
    found: list[Case] = []
    for system, spec in SYSTEMS.items():
        if options.systems and system.split()[0] not in options.systems:
            continue
        jobs, latency_only = options.jobs, spec.get("latency_only", False)
        found.append(
            Case(system, "enqueue", spec["single"], ["enqueue", "--jobs", str(jobs)], jobs)
        )
        bulk = ["enqueue", "--jobs", str(jobs), "--bulk"]
        if "bulk" in spec:
            found.append(Case(system, "enqueue_bulk", spec["bulk"], bulk, jobs))
        for how, extra in spec.get("bulk_variants", []):
            # Options of the adapter itself, so before its subcommand.
            found.append(Case(system, "enqueue_bulk", how, [*extra, *bulk], jobs))
        if spec.get("enqueue_only"):
            continue
        for setting in ("default", "high"):
            if setting in spec and not latency_only:
                slots, how, share = spec[setting]
                count = max(jobs // share, 200)
                drain = ["drain", "--jobs", str(count), "--concurrency", str(slots)]
                found.append(Case(system, "drain", how, drain, count))
        slots, how, _ = spec["high"]
        latency = ["latency", "--rate", str(options.rate), "--seconds", str(options.seconds)]
        found.append(Case(system, "latency", how, [*latency, "--concurrency", str(slots)]))
        if not latency_only:
            memory = ["memory", "--jobs", str(options.memory_jobs)]
            found.append(
                Case(system, "memory", spec["bulk" if "bulk" in spec else "single"], memory)
            )
    if options.kinds:
        found = [case for case in found if case.kind in options.kinds]
    return found


def run_json(argv: list[str], timeout: float = CASE_TIMEOUT) -> dict[str, Any]:
    """Run one adapter command; its JSON line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def measure(case: Case, url: str, runs: int, round_: int) -> None:
    def argv(target: str) -> list[str]:
        return [*SYSTEMS[case.system]["argv"], "--redis", target, *case.args]

    label = f"[{round_ + 1}/{runs}] {case.system:22} {case.kind:12} {case.how}"
    print(label, end=" ... ", flush=True)
    try:
        if case.kind == "memory":
            # A fresh server without AOF for each: used_memory also counts AOF buffers.
            with tempfile.TemporaryDirectory() as folder, fresh_server(Path(folder)) as server:
                result = run_json(argv(local(server.port)))
        else:
            result = run_json(argv(url))
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        case.errors.append(str(error))
        print(f"FAILED: {str(error).splitlines()[-1] if str(error) else error!r}", flush=True)
        return
    case.runs.append(result)
    LOADS.append(os.getloadavg()[0])
    print(", ".join(f"{k} {v:,.1f}" for k, v in result.items() if k != "samples"), flush=True)


def fresh_server(folder: Path) -> EmbeddedRedis:
    return EmbeddedRedis(folder, appendonly=False, extra_args=("--save", ""))


def local(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


# Installing ------------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install_python_peers() -> None:
    """benchmarks/peers/.venv from requirements.txt; skipped when that file is unchanged."""
    requirements = HERE / "requirements.txt"
    stamp = PEERS_VENV / ".fbq-peers-installed"
    if stamp.exists() and stamp.read_text() == _digest(requirements):
        return
    print(f"installing the Python peers into {PEERS_VENV}", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(PEERS_VENV)
    pip = [str(PEERS_PY), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(requirements)], check=True)
    stamp.write_text(_digest(requirements))


def install_bullmq() -> bool:
    """`npm ci` in benchmarks/peers/node; False (BullMQ skipped) when node or npm is missing."""
    if not (shutil.which("node") and shutil.which("npm")):
        print("node or npm not found: BullMQ is skipped", flush=True)
        return False
    lock = NODE_DIR / "package-lock.json"
    stamp = NODE_DIR / "node_modules" / ".fbq-peers-installed"
    if stamp.exists() and stamp.read_text() == _digest(lock):
        return True
    print(f"installing BullMQ into {NODE_DIR} (npm ci)", flush=True)
    npm = [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund"]
    subprocess.run(npm, cwd=NODE_DIR, check=True)
    stamp.write_text(_digest(lock))
    return True


# The machine and the versions -----------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 2**20, 1),
        "os": platform.platform(),
    }


def versions(redis_version: str) -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "redis-server": f"{redis_version} ({find_server_binary()})",
    }
    if shutil.which("node"):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
        found["node"] = node.stdout.strip()
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    found["feedback-queue commit"] = commit.stdout.strip()
    for system, spec in SYSTEMS.items():
        if system.endswith("gRPC"):
            continue
        try:
            for name, value in run_json([*spec["argv"], "versions"], 120).items():
                found[name if name != "redis-py" else f"redis-py ({system})"] = str(value)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
            found[system] = f"unavailable: {error}"
    return found


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--jobs", type=int, default=20_000, help="jobs per enqueue and drain case")
    cli.add_argument("--runs", type=int, default=3, help="rounds over every case")
    cli.add_argument("--rate", type=float, default=1000.0, help="latency: offered jobs/s")
    cli.add_argument("--seconds", type=float, default=5.0, help="latency: for how long")
    cli.add_argument("--memory-jobs", type=int, default=10_000, help="jobs for the memory case")
    cli.add_argument(
        "--systems",
        type=lambda s: s.split(","),
        default=None,
        help="only these, e.g. RQ,BullMQ,Feedback",
    )
    cli.add_argument(
        "--kinds",
        type=lambda s: s.split(","),
        default=None,
        help="only these measures, e.g. enqueue,enqueue_bulk (a short run for the bulk targets)",
    )
    cli.add_argument("--note", default="", help="the load situation, written with the results")
    cli.add_argument(
        "--skip-install", action="store_true", help="use the venv and node as they are"
    )
    options = cli.parse_args()

    if not options.skip_install:
        install_python_peers()
        if not install_bullmq():
            SYSTEMS.pop("BullMQ")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    info: dict[str, Any] = {"started": started, "machine": machine(), "load_before": load()}
    info["note"] = options.note
    info["params"] = {
        k: getattr(options, k) for k in ("jobs", "runs", "rate", "seconds", "memory_jobs")
    }
    all_cases = cases(options)
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as server:
        url = local(server.port)
        redis_version = (
            subprocess.run(
                [find_server_binary(), "--version"], capture_output=True, text=True, check=False
            )
            .stdout.split()[2]
            .removeprefix("v=")
        )
        info["versions"] = versions(redis_version)
        print(json.dumps({"machine": info["machine"], "versions": info["versions"]}, indent=2))
        for round_ in range(options.runs):
            for case in all_cases:
                measure(case, url, options.runs, round_)
    info["load_after"] = load()
    if LOADS:
        info["load_during"] = (
            f"min {min(LOADS):.2f}, median {statistics.median(LOADS):.2f}, max {max(LOADS):.2f}"
        )
    else:
        info["load_during"] = "not sampled"
    table = rows(all_cases)
    info["targets"] = targets(table)

    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"peers-{time.strftime('%Y%m%d-%H%M%S')}"
    report = markdown(table, info)
    stem.with_suffix(".md").write_text(report)
    stem.with_suffix(".json").write_text(json.dumps({**info, "rows": table}, indent=2))
    print("\n" + report)
    plot = [
        str(PEERS_PY),
        str(HERE / "plot.py"),
        str(stem.with_suffix(".json")),
        str(stem.with_suffix(".png")),
    ]
    if subprocess.run(plot, check=False).returncode == 0:
        print(f"plot: {stem.with_suffix('.png')}")
    print(f"results: {stem.with_suffix('.md')}, {stem.with_suffix('.json')}")


if __name__ == "__main__":
    main()
