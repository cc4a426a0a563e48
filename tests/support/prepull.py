"""A hub with the kubernetes backend and the pre-puller on, on the tests' control plane, and what its DaemonSets pull.

Shared by tests/integration/test_kube_prepull.py and benchmarks/prepull.py.
The hub speaks as its ServiceAccount (config/kubernetes/rbac.yaml), whose
pre-puller Role is in the hub's namespace, where the DaemonSets go.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spawner.prepuller import OWNER_LABELS

from .cluster_fixture import HUB_NAMESPACE, Cluster
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
