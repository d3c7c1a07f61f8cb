"""A small kustomize for the tests: builds deploy/k8s/ the way `kustomize build` does, for the
features our kustomizations use and no others (it refuses any other field).

Supported: `resources` (files and folders with a kustomization), `namespace`, `labels` (metadata
only), `configMapGenerator` (files and literals, with `generatorOptions.disableNameSuffixHash`),
`images` (newName, newTag, digest) and `patches` given as JSON 6902 operations (add, replace,
remove, test) with a kind/name target. Where `kubectl kustomize` exists, a test checks that both
give the same objects.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]

KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "labels",
    "resources",
    "generatorOptions",
    "configMapGenerator",
    "images",
    "patches",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class KustomizeError(Exception):
    """The kustomization uses something this builder does not do, or a patch failed."""


def load_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def build(folder: Path) -> list[Doc]:
    """The objects of the kustomization in `folder`, transformed."""
    kustomization: Doc = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{folder}: unsupported fields {sorted(unknown)}")
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        docs += build(path) if path.is_dir() else load_docs(path)
    docs += _generated(folder, kustomization)
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    for label in kustomization.get("labels", []):
        if set(label) - {"pairs"}:
            raise KustomizeError(f"{folder}: labels support `pairs` only")
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in kustomization.get("images", []):
        for doc in docs:
            _set_image(doc, image)
    for patch in kustomization.get("patches", []):
        _patch(folder, docs, patch)
    return docs


def _generated(folder: Path, kustomization: Doc) -> list[Doc]:
    generators = kustomization.get("configMapGenerator", [])
    if generators and not kustomization.get("generatorOptions", {}).get("disableNameSuffixHash"):
        raise KustomizeError("name suffix hashes are not supported: disableNameSuffixHash")
    docs: list[Doc] = []
    for generator in generators:
        data: dict[str, str] = {}
        for file in generator.get("files", []):
            data[Path(file).name] = (folder / file).read_text()
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": data,
            }
        )
    return docs


def pod_spec(doc: Doc) -> Doc | None:
    """The pod template's spec of a workload, or None."""
    spec = doc.get("spec", {})
    template = spec.get("template")
    return template["spec"] if template else None


def containers(doc: Doc) -> list[Doc]:
    pod = pod_spec(doc)
    if pod is None:
        return []
    return list(pod.get("initContainers", [])) + list(pod["containers"])


def _set_image(doc: Doc, image: Doc) -> None:
    for container in containers(doc):
        ref: str = container["image"]
        name = (
            ref.split("@", maxsplit=1)[0].rsplit(":", 1)[0]
            if ":" in ref.rsplit("/", maxsplit=1)[-1]
            else ref
        )
        if name != image["name"]:
            continue
        new = image.get("newName", name)
        if "digest" in image:
            container["image"] = f"{new}@{image['digest']}"
        else:
            tag = image.get("newTag", ref.rsplit(":", 1)[1] if ref != name else "latest")
            container["image"] = f"{new}:{tag}"


def _patch(folder: Path, docs: list[Doc], patch: Doc) -> None:
    target = patch["target"]
    if set(target) - {"kind", "name"}:
        raise KustomizeError(f"patch targets support kind and name only: {target}")
    text = (folder / patch["path"]).read_text() if "path" in patch else patch["patch"]
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizeError("only JSON 6902 patches (a list of operations) are supported")
    matched = [
        d for d in docs if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]
    ]
    if not matched:
        raise KustomizeError(f"patch target not found: {target}")
    for doc in matched:
        for operation in operations:
            _apply(doc, operation)


def _apply(doc: Doc, operation: Doc) -> None:
    """One JSON patch operation (RFC 6902) in place."""
    *parents, last = [
        p.replace("~1", "/").replace("~0", "~") for p in operation["path"][1:].split("/")
    ]
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    op = operation["op"]
    key: Any = int(last) if isinstance(node, list) and last != "-" else last
    if op == "test":
        if node[key] != operation["value"]:
            raise KustomizeError(f"test failed at {operation['path']}: {node[key]!r}")
    elif op == "replace":
        if isinstance(node, dict) and key not in node:
            raise KustomizeError(f"replace of a missing path {operation['path']}")
        node[key] = copy.deepcopy(operation["value"])
    elif op == "add":
        if isinstance(node, list):
            node.insert(len(node) if key == "-" else key, copy.deepcopy(operation["value"]))
        else:
            node[key] = copy.deepcopy(operation["value"])
    elif op == "remove":
        del node[key]
    else:
        raise KustomizeError(f"unsupported patch op {op}")
