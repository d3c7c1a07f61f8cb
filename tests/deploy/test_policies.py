"""deploy/k8s/: who may reach whom, and which pod holds which secret (#21, finding 12).

The NetworkPolicies are evaluated the way the API defines them (a pod selected by no policy of a
direction is open in that direction; otherwise a connection needs a rule allowing it on both
ends), for the selectors our manifests use. The pods are the assembled workloads' own labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.deploy.kustomize import Doc, build, containers, pod_spec
from tests.deploy.test_k8s import BASE, PRODUCTION, by_kind

NAMESPACE = "feedback-queue"


@dataclass(frozen=True)
class Pod:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    namespace: str | None = NAMESPACE  # None: outside the cluster


def _matches(selector: Doc, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", "this evaluator knows In only"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _peer_matches(peer: Doc, pod: Pod) -> bool:
    assert "ipBlock" not in peer, "this evaluator does not model ipBlock"
    if pod.namespace is None:
        return False
    if "namespaceSelector" in peer:
        namespace = {"kubernetes.io/metadata.name": pod.namespace}
        if not _matches(peer["namespaceSelector"], namespace):
            return False
    elif pod.namespace != NAMESPACE:
        return False
    return _matches(peer.get("podSelector", {}), pod.labels)


def _rule_allows(rule: Doc, peers_key: str, peer: Pod, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if ports and not any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports):
        return False
    peers = rule.get(peers_key)
    return not peers or any(_peer_matches(p, peer) for p in peers)


def _side_allows(
    policies: list[Doc], direction: str, pod: Pod, peer: Pod, port: int, protocol: str
) -> bool:
    if pod.namespace != NAMESPACE:
        return True  # our policies say nothing about other namespaces' pods
    selecting = [
        p["spec"]
        for p in policies
        if direction in p["spec"]["policyTypes"] and _matches(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(
        _rule_allows(rule, peers_key, peer, port, protocol)
        for spec in selecting
        for rule in spec.get(rules_key, [])
    )


def reaches(docs: list[Doc], source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
    """Whether `source` may open a connection to `target` on `port`."""
    policies = list(by_kind(docs, "NetworkPolicy").values())
    return _side_allows(policies, "Egress", source, target, port, protocol) and _side_allows(
        policies, "Ingress", target, source, port, protocol
    )


def workloads(docs: list[Doc]) -> dict[str, Pod]:
    pods = {}
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            labels = doc["spec"]["template"]["metadata"]["labels"]
            pods[doc["metadata"]["name"]] = Pod(doc["metadata"]["name"], labels)
    assert set(pods) == {"ingest", "worker", "gateway", "redis"}
    return pods


PRODUCER = Pod("producer", {"feedback-queue/producer": "true"})
STRANGER = Pod("stranger", {"app.kubernetes.io/name": "something-else"})
ELSEWHERE = Pod("elsewhere", {"feedback-queue/producer": "true"}, namespace="other")
KEDA = Pod("keda", {"app": "keda-operator"}, namespace="keda")
DNS = Pod("dns", {"k8s-app": "kube-dns"}, namespace="kube-system")
INTERNET = Pod("internet", namespace=None)
SUBMIT, ADMIN, REDIS = 50051, 50053, 6379


@pytest.fixture(scope="module", params=["base", "production"])
def assembled(request: pytest.FixtureRequest) -> list[Doc]:
    return build(BASE if request.param == "base" else PRODUCTION)


def test_only_the_gateway_reaches_the_admin_port(assembled: list[Doc]) -> None:
    pods = workloads(assembled)
    assert reaches(assembled, pods["gateway"], pods["ingest"], ADMIN)
    for other in (pods["worker"], pods["redis"], PRODUCER, STRANGER, ELSEWHERE, KEDA):
        assert not reaches(assembled, other, pods["ingest"], ADMIN), other.name


def test_only_labelled_producers_reach_the_submission_port(assembled: list[Doc]) -> None:
    pods = workloads(assembled)
    assert reaches(assembled, PRODUCER, pods["ingest"], SUBMIT)
    # Another namespace is added by an overlay rule (deploy/README.md, "Network").
    for other in (STRANGER, ELSEWHERE, pods["worker"], pods["gateway"], pods["redis"]):
        assert not reaches(assembled, other, pods["ingest"], SUBMIT), other.name


def test_only_ingest_and_workers_reach_redis(assembled: list[Doc]) -> None:
    pods = workloads(assembled)
    for client in (pods["ingest"], pods["worker"]):
        assert reaches(assembled, client, pods["redis"], REDIS), client.name
    for other in (pods["gateway"], PRODUCER, STRANGER, ELSEWHERE, KEDA):
        assert not reaches(assembled, other, pods["redis"], REDIS), other.name


def test_keda_reads_the_waiting_count_from_the_gateway(assembled: list[Doc]) -> None:
    """KEDA's operator scales the workers on the gateway's queue stats (keda-scaledobject.yaml),
    on the gateway's HTTP port; nothing else of ours is open to it."""
    pods = workloads(assembled)
    assert reaches(assembled, KEDA, pods["gateway"], 8080)
    for target, port in ((pods["redis"], REDIS), (pods["ingest"], ADMIN), (pods["ingest"], SUBMIT)):
        assert not reaches(assembled, KEDA, target, port), target.name


def test_every_workload_has_egress_rules_and_reaches_only_what_it_calls(
    assembled: list[Doc],
) -> None:
    pods = workloads(assembled)
    for pod in pods.values():
        assert reaches(assembled, pod, DNS, 53, "UDP"), pod.name
        assert not reaches(assembled, pod, INTERNET, 443), pod.name
        assert not reaches(assembled, pod, STRANGER, 80), pod.name
    assert not reaches(assembled, pods["gateway"], pods["ingest"], SUBMIT)
    assert not reaches(assembled, pods["ingest"], pods["gateway"], 8080)
    assert not reaches(assembled, pods["worker"], pods["ingest"], ADMIN)
    assert not reaches(assembled, pods["redis"], pods["ingest"], SUBMIT)
    assert not reaches(assembled, pods["redis"], pods["worker"], 50052)
    deny = by_kind(assembled, "NetworkPolicy")["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_the_gateway_is_open_from_outside_on_its_port_only(assembled: list[Doc]) -> None:
    gateway = workloads(assembled)["gateway"]
    for outside in (INTERNET, ELSEWHERE):  # an Ingress controller, Prometheus
        assert reaches(assembled, outside, gateway, 8080), outside.name
        assert not reaches(assembled, outside, gateway, 9090), outside.name


def test_a_labelled_producer_reaches_the_submission_port_and_nothing_else(
    assembled: list[Doc],
) -> None:
    pods = workloads(assembled)
    assert reaches(assembled, PRODUCER, pods["ingest"], SUBMIT)
    for target, port in ((pods["ingest"], ADMIN), (pods["redis"], REDIS), (INTERNET, 443)):
        assert not reaches(assembled, PRODUCER, target, port), target.name


def secrets_of(container: Doc, pod: Doc) -> set[str]:
    """`secret/key` (or `secret/*` for a whole mounted Secret) that a container can read."""
    found = set()
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            found.add(f"{ref['name']}/{ref['key']}")
    assert not any("secretRef" in source for source in container.get("envFrom", []))
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        secret = volumes.get(mount["name"], {}).get("secret")  # else a volumeClaimTemplate
        if secret:
            keys = [item["key"] for item in secret.get("items", [])] or ["*"]
            found |= {f"{secret['secretName']}/{key}" for key in keys}
    return found


def test_each_container_mounts_only_its_own_secrets(assembled: list[Doc]) -> None:
    held = {}
    for doc in assembled:
        pod = pod_spec(doc)
        if pod is not None and doc["kind"] in {"Deployment", "StatefulSet"}:
            for container in containers(doc):
                held[container["name"]] = secrets_of(container, pod)
    assert held == {
        # Ingest knows principals by their tokens' hashes, and no token: no shared admin token.
        "ingest": {"fbq-redis-credentials/ingest-password", "fbq-credentials/credentials"},
        "worker": {"fbq-redis-credentials/worker-password"},
        # Its HTTP admin token, its own operator credential toward ingest, and the principals
        # of its admin API (hashes, no token; `keda`, a viewer, among them). KEDA's own token,
        # fbq-keda-token, is read by KEDA's operator and mounted by no pod.
        "gateway": {
            "fbq-tokens/admin-token",
            "fbq-tokens/gateway-token",
            "fbq-gateway-credentials/credentials",
        },
        # Only the init container that renders the ACL (hashes) reads the passwords; the
        # server mounts the rendered file, and its probes log in as the password-less fbq-probe.
        "render-acl": {"fbq-redis-credentials/*"},
        "redis": set(),
    }
