"""Chaos fixtures, the soak marker, and the counts in pytest's terminal summary."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.chaos.harness import SingleRedis, Stack
from tests.chaos.report import LINES, REPORT

SOAK = "soak"


def pytest_configure(config: pytest.Config) -> None:
    # Also in pyproject.toml; registering it here keeps this folder self-contained.
    config.addinivalue_line(
        "markers", "soak: long-running fault soak, not run in CI (select with -m soak)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests are deselected (not skipped: they must not count as passing) without -m soak."""
    if SOAK in (config.option.markexpr or ""):
        return
    soak = [item for item in items if item.get_closest_marker(SOAK)]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker(SOAK)]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LINES:
        terminalreporter.write_sep("=", "chaos counts")
        for line in LINES:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(also in {REPORT})")


MakeStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[MakeStack]:
    """Stacks on their own single Redis: `await make_stack(appendfsync=..., seed=...)`.

    Services are started by the test (`start_ingest`, `start_workers`, ...); all are killed and
    their output handed to the secrets check afterwards.
    """
    stacks: list[Stack] = []

    async def make(
        *,
        seed: int = 1,
        appendfsync: str = "everysec",
        redis_args: tuple[str, ...] = (),
        worker_env: dict[str, str] | None = None,
        ingest_env: dict[str, str] | None = None,
    ) -> Stack:
        folder = tmp_path / f"stack-{len(stacks)}"
        redis = SingleRedis.start(folder / "redis", appendfsync=appendfsync, extra_args=redis_args)
        stack = Stack(
            redis,
            folder,
            seed=seed,
            worker_env=worker_env,
            ingest_env=ingest_env,
            name=request.node.name,
        )
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        await stack.close()
