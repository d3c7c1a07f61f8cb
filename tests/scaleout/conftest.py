"""Fixtures of the scale-out tests: a real three-master Redis Cluster on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import server_binary
from tests.scaleout.cluster import ClusterSetup


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterSetup]:
    setup = ClusterSetup(tmp_path, server_binary())
    try:
        yield setup.start()
    finally:
        setup.stop()
