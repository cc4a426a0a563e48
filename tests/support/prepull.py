"""The pre-puller on the tests' control plane: a hub with it on, or the controller alone, and what its DaemonSets pull.

Shared by tests/k8s/test_prepuller.py, tests/security/test_prepull_pods.py,
tests/integration/test_kube_prepull.py and benchmarks/prepull.py.
The hub speaks as its ServiceAccount (config/kubernetes/rbac.yaml), whose
pre-puller Role is in the hub's namespace, where the DaemonSets go.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration

from spawner.owned_objects import Changes
from spawner.prepuller import OWNER_LABELS, Prepuller
from workspaces.catalog import CatalogStore
from workspaces.config import load_config

from .cluster_fixture import HUB_NAMESPACE, RBAC, Cluster
from .hub import Hub

SELECTOR = ",".join(f"{k}={v}" for k, v in OWNER_LABELS.items())


def prepull_hub(cluster: Cluster, root: Path, **prepull: Any) -> Hub:
    """A hub (not started) whose workspaces API keeps the pre-pull DaemonSets in the hub's namespace."""
    root.mkdir(parents=True, exist_ok=True)
    kubeconfig = cluster.hub().write_kubeconfig(root / "kubeconfig")
    settings = {"backend": "kubernetes",
                "kubernetes": {"prepull": {"enabled": True, "namespace": HUB_NAMESPACE, **prepull}}}
    return Hub(root / "hub", settings=settings, env={"KUBECONFIG": str(kubeconfig)})


def daemon_sets(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.items("daemonsets", HUB_NAMESPACE, labelSelector=SELECTOR)


def pulled(cluster: Cluster) -> set[str]:
    """Every image the pre-pull DaemonSets name."""
    return {c["image"] for d in daemon_sets(cluster) for c in d["spec"]["template"]["spec"].get("initContainers", [])}


def rolled_out(cluster: Cluster) -> bool:
    """Every pre-pull DaemonSet's current template has a pod scheduled on each of its nodes."""
    found = daemon_sets(cluster)
    return bool(found) and all(
        (s := d.get("status", {})).get("observedGeneration") == d["metadata"]["generation"]
        and s.get("updatedNumberScheduled", 0) == s.get("desiredNumberScheduled", -1)
        for d in found
    )


# -- the controller alone, in a namespace of its own ------------------------------

LAB, CUDA, HIDDEN = "quay.io/jupyter/minimal-notebook:2025-10-20", "quay.io/jupyter/pytorch-notebook:cuda12", "example.org/old:1"
IMAGES = [
    {"id": "lab", "display_name": "Lab", "image": LAB, "default": True},
    {"id": "cuda", "display_name": "CUDA", "image": CUDA, "gpu": True},
    {"id": "old", "display_name": "Old", "image": HIDDEN, "hidden": True},
]
GPU = {"nvidia.com/gpu.present": "true"}
PROFILES = [
    {"id": "small", "display_name": "Small", "default": True},
    {"id": "large", "display_name": "Large", "cpu": {"limit": 4}},
    {"id": "gpu", "display_name": "GPU", "gpu": {"count": 1}, "node_selector": GPU,
     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
]


def prepuller_rules() -> list[dict[str, Any]]:
    [role] = [d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "Role" and "prepuller" in d["metadata"]["name"]]
    return role["rules"]


class Setup:
    """A catalog, a namespace (with ``labels``) and an identity with exactly the pre-puller's rules there,
    for driving the controller directly."""

    def __init__(self, cluster: Cluster, root: Path, labels: dict[str, str] | None = None):
        self.cluster = cluster
        self.namespace = cluster.namespace("pp", labels=labels)
        self.identity = cluster.service_account(self.namespace, "prepuller", rules=prepuller_rules())
        root.mkdir(parents=True, exist_ok=True)
        (root / "catalog.yaml").write_text(yaml.safe_dump({"images": IMAGES}))
        (root / "profiles.yaml").write_text(yaml.safe_dump({"profiles": PROFILES}))
        self.config = root / "workspaces.yaml"
        self.edits = root / "catalog-edits.yaml"
        self.configure(enabled=True)

    def configure(self, **prepull: Any) -> None:
        kubernetes = {"namespace": self.namespace, "prepull": {"namespace": self.namespace, "interval": 0.1, **prepull}}
        self.config.write_text(yaml.safe_dump({"backend": "kubernetes", "catalog": "catalog.yaml",
                                               "profiles": "profiles.yaml", "kubernetes": kubernetes}))

    def store(self) -> CatalogStore:
        return CatalogStore(load_config(self.config), edits=self.edits)

    async def client(self, identity: Any = None) -> ApiClient:
        configuration = Configuration()
        await kube_config.load_kube_config_from_dict((identity or self.identity).kubeconfig(), client_configuration=configuration)
        return ApiClient(configuration)

    def prepuller(self, client: ApiClient) -> Prepuller:
        """The controller on the catalog as it is now, logging to ``test.prepuller``."""
        store = self.store()
        return Prepuller(store, store.config.settings.kubernetes.prepull, self.namespace, client,
                         logging.getLogger("test.prepuller"))

    def sync(self) -> Changes:
        async def go() -> Changes:
            async with await self.client() as client:
                return await self.prepuller(client).sync()

        return asyncio.run(go())

    def daemon_sets(self) -> dict[str, dict[str, Any]]:
        """Ours, by the node selector of their pods (None: every node)."""
        found = self.cluster.items("daemonsets", self.namespace, labelSelector=SELECTOR)
        return {str(d["spec"]["template"]["spec"].get("nodeSelector")): d for d in found}

    def pulled(self) -> dict[str, list[str]]:
        """The images each DaemonSet pulls, by the node selector of its pods."""
        return {key: [c["image"] for c in d["spec"]["template"]["spec"]["initContainers"]]
                for key, d in self.daemon_sets().items()}


CPU_NODES, GPU_NODES = str(None), str(GPU)
