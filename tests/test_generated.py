"""The protobuf stubs in feedback_queue/v1 are exactly what `python3 dev.py gen` makes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_stubs_are_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), "gen", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    fresh = sorted(
        p for p in (tmp_path / "feedback_queue" / "v1").iterdir() if p.name != "__init__.py"
    )
    assert [p.name for p in fresh] == [
        "queue_pb2.py",
        "queue_pb2.pyi",
        "queue_pb2_grpc.py",
        "queue_pb2_grpc.pyi",
        "service_config.json",
    ]
    for path in fresh:
        committed = ROOT / "feedback_queue" / "v1" / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: run `python3 dev.py gen` and commit the result"
        )
