"""deploy/k8s/: assembled like kustomize, valid against the Kubernetes schemas, passing checkov,
and consistent with the code: probes hit the ports and health service names the services
really serve, every variable set is one the settings read, Redis's maxmemory fits its limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from feedback_queue.connection import create_client
from feedback_queue.credentials import Credentials, new_token, token_hash
from feedback_queue.queue import Queue
from feedback_queue.settings import Settings
from feedback_queue.up.embedded import free_port
from feedback_queue.v1 import queue_pb2 as pb
from gateway.app import create_app
from gateway.client import IngestClient
from ingest_service.server import create_server
from tests.deploy.conftest import DEPLOY, AclServer
from tests.deploy.kustomize import Doc, build, containers, load_docs, pod_spec
from tests.helpers import variables_read
from worker_service import server as worker_server

K8S = DEPLOY / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
EXTRAS = sorted((K8S / "extras").glob("*.yaml"))
KUBERNETES_VERSION = "1.30.0"
APP_IMAGE = "registry.example.com/feedback-queue"


def app_containers(docs: list[Doc]) -> dict[str, tuple[Doc, Doc]]:
    """Deployment name -> (the Deployment, its container running our image)."""
    found = {}
    for doc in docs:
        if doc["kind"] == "Deployment":
            for container in containers(doc):
                if container["image"].startswith(APP_IMAGE):
                    found[doc["metadata"]["name"]] = (doc, container)
    return found


def by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module", params=["base", "production"])
def assembled(request: pytest.FixtureRequest) -> list[Doc]:
    return build(BASE if request.param == "base" else PRODUCTION)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) not here")
@pytest.mark.parametrize("folder", [BASE, PRODUCTION], ids=["base", "production"])
def test_our_assembly_matches_kubectl_kustomize(folder: Path) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True
    ).stdout
    theirs = sorted(
        (d for d in yaml.safe_load_all(out) if d), key=lambda d: (d["kind"], d["metadata"]["name"])
    )
    ours = sorted(build(folder), key=lambda d: (d["kind"], d["metadata"]["name"]))
    assert ours == theirs


def test_every_object_is_valid_against_the_kubernetes_schemas(assembled: list[Doc]) -> None:
    crds = []
    for doc in [*assembled, *(d for path in EXTRAS for d in load_docs(path))]:
        if doc["apiVersion"].startswith("keda.sh/"):
            crds.append(doc)  # no KEDA schema is bundled; test_keda checks these by hand
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert {d["kind"] for d in crds} == {"ScaledObject", "TriggerAuthentication"}


def test_the_pieces_are_all_there(assembled: list[Doc]) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in assembled}
    for expected in [
        ("Namespace", "feedback-queue"),
        ("StatefulSet", "redis"),
        ("Service", "redis"),
        ("ConfigMap", "fbq-redis-config"),
        ("Deployment", "ingest"),
        ("Deployment", "worker"),
        ("Deployment", "gateway"),
        ("Service", "ingest"),
        ("Service", "gateway"),
        ("ScaledObject", "worker"),
        ("NetworkPolicy", "default-deny"),
        ("PodDisruptionBudget", "ingest"),
        ("PodDisruptionBudget", "worker"),
        ("PodDisruptionBudget", "gateway"),
    ]:
        assert expected in kinds
    for doc in assembled:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "feedback-queue", doc["metadata"]["name"]
    redis = by_kind(assembled, "StatefulSet")["redis"]
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    volumes = {v["name"]: v for v in pod_spec(redis)["volumes"]}  # type: ignore[index]
    assert volumes["config"]["configMap"]["name"] == "fbq-redis-config"
    assert volumes["credentials"]["secret"]["secretName"] == "fbq-redis-credentials"


def test_the_redis_configmap_holds_the_files_in_deploy_redis(assembled: list[Doc]) -> None:
    data = by_kind(assembled, "ConfigMap")["fbq-redis-config"]["data"]
    for name in ("redis.conf", "users.acl", "render-acl.sh"):
        assert data[name] == (DEPLOY / "redis" / name).read_text(), (
            f"deploy/k8s/base/redis/{name} differs from deploy/redis/{name}: copy it again"
        )


def test_maxmemory_is_75_percent_of_the_redis_memory_limit(assembled: list[Doc]) -> None:
    conf = by_kind(assembled, "ConfigMap")["fbq-redis-config"]["data"]["redis.conf"]
    maxmemory = re.search(r"^maxmemory (\d+)mb$", conf, re.MULTILINE)
    assert maxmemory
    redis = containers(by_kind(assembled, "StatefulSet")["redis"])[-1]
    assert redis["name"] == "redis"
    limit = redis["resources"]["limits"]["memory"]
    assert limit.endswith("Gi")
    assert int(maxmemory.group(1)) == int(float(limit[:-2]) * 1024 * 0.75)


def test_every_pod_is_locked_down(assembled: list[Doc]) -> None:
    for doc in assembled:
        pod = pod_spec(doc)
        if pod is None:
            continue
        name = doc["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] >= 10000, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in containers(doc):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) == {"cpu", "memory"}, name


def settings_variables() -> set[str]:
    """Every environment variable the settings read."""
    names = variables_read()
    assert {"REDIS_HOST", "REDIS_PASSWORD", "FBQ_QUEUE", "FBQ_SHUTDOWN_GRACE"} <= names
    return names


def container_env(docs: list[Doc], container: Doc) -> dict[str, str]:
    """The container's environment, with ConfigMaps resolved and Secrets made up."""
    maps = by_kind(docs, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]]["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = f"secret-{ref['name']}-{ref['key']}-0123456789"
    return env


def test_every_variable_set_is_one_settings_reads(assembled: list[Doc]) -> None:
    known = settings_variables()
    for name, (_, container) in app_containers(assembled).items():
        env = container_env(assembled, container)
        assert set(env) <= known, f"{name} sets variables the settings ignore: {set(env) - known}"
        Settings.from_env(env)  # and every value parses


def test_probes_use_the_ports_and_names_the_settings_give(assembled: list[Doc]) -> None:
    apps = app_containers(assembled)
    assert set(apps) == {"ingest", "worker", "gateway"}
    ports = {}
    for name, (_, container) in apps.items():
        settings = Settings.from_env(container_env(assembled, container))
        ports[name] = {
            "ingest": settings.ingest_port,
            "worker": settings.worker_health_port,
            "gateway": settings.gateway_port,
        }[name]
        expected = [ports[name]]
        if name == "ingest":
            assert settings.ingest_admin_port is not None
            ports["admin"] = settings.ingest_admin_port
            expected.append(ports["admin"])
        assert [p["containerPort"] for p in container["ports"]] == expected
        assert container["args"] == [name]
    for name in ("ingest", "worker"):
        _, container = apps[name]
        assert container["livenessProbe"]["grpc"] == {"port": ports[name], "service": "liveness"}
        assert container["startupProbe"]["grpc"] == {"port": ports[name], "service": "liveness"}
        assert container["readinessProbe"]["grpc"] == {"port": ports[name], "service": "readiness"}
    _, gateway = apps["gateway"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert gateway[probe]["httpGet"] == {"path": "/healthz", "port": ports["gateway"]}
    services = by_kind(assembled, "Service")
    assert [p["port"] for p in services["ingest"]["spec"]["ports"]] == [
        ports["ingest"],
        ports["admin"],
    ]
    assert services["gateway"]["spec"]["ports"][0]["port"] == ports["gateway"]
    gateway_env = container_env(assembled, gateway)
    # The gateway calls AdminService, which ingest serves on its admin port only.
    assert gateway_env["FBQ_INGEST_ADDR"] == f"ingest:{ports['admin']}"


def test_workers_get_longer_to_stop_than_their_shutdown_grace(assembled: list[Doc]) -> None:
    for name, (deployment, container) in app_containers(assembled).items():
        grace = Settings.from_env(container_env(assembled, container)).shutdown_grace
        period = pod_spec(deployment)["terminationGracePeriodSeconds"]  # type: ignore[index]
        # Workers: FBQ_SHUTDOWN_GRACE for running jobs, then as long again to hand back and leave.
        needed = 2 * grace if name == "worker" else grace
        assert period > needed, f"{name}: {period}s is not more than {needed}s"


def test_disruption_budgets_cover_every_workload(assembled: list[Doc]) -> None:
    budgets = by_kind(assembled, "PodDisruptionBudget")
    for name in ("ingest", "worker", "gateway", "redis"):
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert selector == {"app.kubernetes.io/name": name}


def _keda_trigger(docs: list[Doc]) -> tuple[Doc, Doc, Doc]:
    """The worker ScaledObject's spec, its one trigger, and that trigger's TriggerAuthentication."""
    scaled = by_kind(docs, "ScaledObject")["worker"]["spec"]
    [trigger] = scaled["triggers"]
    auth = by_kind(docs, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    return scaled, trigger, auth


def test_keda_scales_workers_on_the_waiting_count_from_the_gateway(assembled: list[Doc]) -> None:
    scaled, trigger, auth = _keda_trigger(assembled)
    assert scaled["scaleTargetRef"] == {"name": "worker"}
    assert "worker" in by_kind(assembled, "Deployment")
    assert 1 <= scaled["minReplicaCount"] < scaled["maxReplicaCount"]
    # Fair share (#19) keeps waiting work in many lanes: no one Redis list holds the backlog,
    # so KEDA asks the gateway (metrics-api scaler, bearer auth: KEDA 2.13+).
    assert trigger["type"] == "metrics-api"
    meta = trigger["metadata"]
    assert meta["authMode"] == "bearer"
    assert meta["valueLocation"] == "waiting"
    assert float(meta["targetValue"]) > 0
    url = httpx.URL(meta["url"])
    gateway = by_kind(assembled, "Service")["gateway"]
    assert url.host == f"gateway.{gateway['metadata']['namespace']}.svc.cluster.local"
    assert url.port == gateway["spec"]["ports"][0]["port"]
    assert url.path == "/api/admin/queue/stats"
    # The token comes from a Secret that only KEDA reads (no pod mounts it,
    # test_policies.py::test_each_container_mounts_only_its_own_secrets).
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "token", "name": "fbq-keda-token", "key": "token"}
    ]
    # And KEDA has no Redis user any more.
    for acl in (DEPLOY / "redis" / "users.acl", BASE / "redis" / "users.acl"):
        assert "fbq-keda" not in acl.read_text()


async def test_the_scaler_reads_the_waiting_count_as_a_viewer(
    acl_server: AclServer, root: Redis, ingest_port: int
) -> None:
    """What KEDA's metrics-api scaler does, against a real gateway and a real ingest logged in
    to Redis as fbq-ingest: GET the trigger's URL path with the viewer token as a bearer token,
    then read `valueLocation` (a GJSON path; ours is a plain field name) from the JSON."""
    docs = build(BASE)
    _, trigger, _ = _keda_trigger(docs)
    meta = trigger["metadata"]
    url = httpx.URL(meta["url"])
    keda, producer = new_token(), new_token()
    credentials = Credentials.parse(
        [f"keda viewer {token_hash(keda)}", f"essay-service producer {token_hash(producer)}"]
    )
    settings = acl_server.settings("ingest")
    queue = Queue.from_settings(settings, create_client(settings.redis))
    ingest = IngestClient(f"127.0.0.1:{ingest_port}", 5.0, None)
    app = create_app(ingest, token="t" * 32, credentials=credentials)
    transport = httpx.ASGITransport(app=app)
    try:
        # Waiting work in three lanes (two fairness keys, two priorities), and one delayed.
        for key, priority in (
            ("school-a", pb.PRIORITY_NORMAL),
            ("school-a", pb.PRIORITY_HIGH),
            ("school-b", pb.PRIORITY_NORMAL),
        ):
            await queue.enqueue(
                pb.Submission(content="Essay.", submitter_id=key, priority=priority)
            )
        await queue.enqueue(pb.Submission(content="Later.", submitter_id="school-b"), delay=60)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            answer = await client.get(url.path, headers={"Authorization": f"Bearer {keda}"})
            assert answer.status_code == 200, answer.text
            value: Any = answer.json()
            for part in meta["valueLocation"].split("."):
                value = value[part]
            assert value == 3
            # A producer's token is refused; so is none.
            refused = await client.get(url.path, headers={"Authorization": f"Bearer {producer}"})
            assert refused.status_code == 403
            assert (await client.get(url.path)).status_code == 401
    finally:
        await ingest.close()
        await queue.close()
        await root.flushall()


def _checkov() -> str:
    found = os.environ.get("CHECKOV_BIN") or shutil.which("checkov")
    if not found:
        message = "checkov not found: set CHECKOV_BIN (see deploy/README.md, 'Checks')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def run_checkov(target: Path, framework: str) -> dict[str, Any]:
    result = subprocess.run(
        [
            _checkov(),
            "--framework",
            framework,
            "--skip-download",
            "--output",
            "json",
            *(["--directory", str(target)] if target.is_dir() else ["--file", str(target)]),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert isinstance(report, dict), result.stdout[:500]
    return report


def test_checkov_finds_nothing_unjustified(tmp_path: Path) -> None:
    for name, folder in (("base", BASE), ("production", PRODUCTION)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(build(folder)))
    for path in EXTRAS:
        shutil.copy(path, tmp_path / path.name)
    report = run_checkov(tmp_path, "kubernetes")
    _assert_clean(report)
    assert report["summary"]["passed"] > 100


def test_checkov_passes_the_dockerfile() -> None:
    _assert_clean(run_checkov(DEPLOY / "docker" / "Dockerfile", "dockerfile"))


def _assert_clean(report: dict[str, Any]) -> None:
    results = report["results"]
    failed = [f"{c['check_id']} {c['resource']}" for c in results["failed_checks"]]
    assert not failed, failed
    for check in results.get("skipped_checks", []):
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} skipped without a reason"


async def _health(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(reply.status)


@pytest.fixture
async def ingest_port(acl_server: AclServer) -> AsyncIterator[int]:
    """The real ingest server, logged in to Redis as fbq-ingest, on a free port."""
    server = create_server(acl_server.settings("ingest"), port=0)
    await server.start()
    yield server.port
    await server.stop(0)


async def test_ingest_serves_the_probed_health_names_as_its_acl_user(
    ingest_port: int,
) -> None:
    docs = build(BASE)
    _, container = app_containers(docs)["ingest"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        service = container[probe]["grpc"]["service"]
        assert await _health(ingest_port, service) == health_pb2.HealthCheckResponse.SERVING


async def test_worker_serves_the_probed_health_names_as_its_acl_user(
    acl_server: AclServer,
) -> None:
    docs = build(BASE)
    _, container = app_containers(docs)["worker"]
    port = free_port()
    settings = acl_server.settings("worker", FBQ_WORKER_HEALTH_PORT=str(port))
    stop = asyncio.Event()
    task = asyncio.create_task(worker_server.serve(settings, stop=stop))
    try:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            service = container[probe]["grpc"]["service"]
            status = 0
            for _ in range(50):
                try:
                    status = await _health(port, service)
                except grpc.aio.AioRpcError:
                    status = 0
                if status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.1)
            assert status == health_pb2.HealthCheckResponse.SERVING, service
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_gateway_answers_its_probe_path() -> None:
    _, container = app_containers(build(BASE))["gateway"]
    paths = {container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")}
    app = create_app(IngestClient("127.0.0.1:1", 1.0, None), token="t" * 32)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        for path in paths:
            assert (await client.get(path)).status_code == 200, path
