"""Placeholders on the real control plane: the installer's part (config/kubernetes/placeholders.yaml) and the hub's controller."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..support.cluster import wait_until
from ..support.cluster_fixture import RBAC, RBAC_PLURALS
from .conftest import RESTRICTED
from .kube import run, use_cluster

DOCUMENTED = list(yaml.safe_load_all((RBAC.parent / "placeholders.yaml").read_text()))
PRIORITY_CLASSES = [d for d in DOCUMENTED if d["kind"] == "PriorityClass"]
GPU_ONE = {
    "id": "gpu-one",
    "display_name": "One GPU",
    "cpu": {"guarantee": 0.1, "limit": 1},
    "memory": {"guarantee": "64Mi", "limit": "1Gi"},
    "gpu": {"count": 1},
    "node_selector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}
PLACEHOLDER_PODS = "app.kubernetes.io/component=placeholder"


@pytest.fixture(scope="module")
def priority_classes(cluster):
    """The PriorityClasses an installer makes (the hub never does)."""
    for c in PRIORITY_CLASSES:
        cluster.admin.apply("priorityclasses", c)
    yield
    for c in PRIORITY_CLASSES:
        cluster.admin.delete("priorityclasses", c["metadata"]["name"])


@pytest.fixture
def placeholder_namespace(cluster, priority_classes):
    """The hub's namespace, where the placeholders run; removed (with them) after the test."""
    name = cluster.namespace("hub", labels=RESTRICTED)
    yield name
    cluster.delete_namespace(name)
    # the GPUs the placeholders held are free again for the tests that come next
    wait_until(lambda: not cluster.items("pods", name), 60, "the placeholders to go")


def documented_hub(cluster, namespace: str) -> Any:
    """The hub's ServiceAccount in ``namespace`` with the RBAC objects of config/kubernetes/placeholders.yaml, as written there."""
    cluster.admin.apply("serviceaccounts", {"metadata": {"name": "hub", "namespace": namespace}})
    for doc in DOCUMENTED:
        if doc["kind"] in RBAC_PLURALS:
            doc = copy.deepcopy(doc)
            if "namespace" in doc["metadata"]:
                doc["metadata"]["namespace"] = namespace
            for subject in doc.get("subjects", []):
                subject["namespace"] = namespace
            cluster.admin.apply(RBAC_PLURALS[doc["kind"]], doc, namespace)
    return cluster.admin.as_token(cluster.admin.request_token(namespace, "hub"))


def sync(cluster, namespace: str, config_file: Path) -> None:
    """One pass of the hub's placeholder controller, as the documented hub of ``namespace``."""
    from spawner.placeholders import PlaceholderController
    from workspaces.api.kube import api_client
    from workspaces.catalog import CatalogStore
    from workspaces.config import load_config

    use_cluster(documented_hub(cluster, namespace))
    store = CatalogStore(load_config(config_file))

    async def once() -> None:
        async with await api_client() as client:
            await PlaceholderController(store, store.config.settings.kubernetes, client).sync()

    run(once)


def placeholders(cluster, namespace: str) -> list[dict[str, Any]]:
    return cluster.items("pods", namespace, labelSelector=PLACEHOLDER_PODS)
