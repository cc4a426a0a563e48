"""Attacks through the placeholders (spawner.placeholders), on the real control plane.

Placeholders give the hub a new right (Deployments) and the cluster a new
PriorityClass. A hub that is taken over must get no more from that right than
the placeholders' Deployments in their one namespace: not a workload in another
namespace, not a PriorityClass of its own that would put its pods above
everyone's. And a placeholder must never evict anyone's work: it is there to
be evicted (preemptionPolicy Never), even by pods of a lower priority.
"""

from __future__ import annotations

import pytest

from ..k8s.kube import hardened_pod, write_config
from ..k8s.placeholders import (GPU_ONE, documented_hub, placeholder_namespace, placeholders,  # noqa: F401 (fixtures)
                                priority_classes, sync)
from ..support.cluster import KubeError, wait_until
from ..support.cluster_fixture import GPUS

TOLERATE_GPUS = GPU_ONE["tolerations"]


def test_the_hubs_placeholder_right_makes_no_deployment_in_another_namespace(cluster, namespace, placeholder_namespace):
    hub = documented_hub(cluster, placeholder_namespace)
    miner = {"metadata": {"name": "miner"}, "spec": {
        "selector": {"matchLabels": {"app": "miner"}},
        "template": {"metadata": {"labels": {"app": "miner"}}, "spec": hardened_pod("m", "example.org/miner:1")["spec"]},
    }}
    with pytest.raises(KubeError) as refused:
        hub.create("deployments", miner, namespace)
    assert refused.value.code == 403
    assert cluster.items("deployments", namespace) == []


def test_the_hub_cannot_make_a_priority_class_above_everyone(cluster, placeholder_namespace):
    hub = documented_hub(cluster, placeholder_namespace)
    with pytest.raises(KubeError) as refused:
        hub.create("priorityclasses", {"metadata": {"name": "hub-above-all"}, "value": 1000000})
    assert refused.value.code == 403
    assert cluster.admin.find("priorityclasses", "hub-above-all") is None


def test_a_placeholder_never_evicts_a_pod_even_of_a_lower_priority(cluster, tmp_path, namespace, placeholder_namespace):
    wait_until(lambda: cluster.gpus_free() == GPUS, 60, "the GPUs of earlier tests' pods to be free")
    cluster.admin.apply("priorityclasses", {"metadata": {"name": "batch-lowest"}, "value": -100})
    try:
        # someone's batch job, at a priority below the placeholders', holds every GPU
        job = hardened_pod("batch", "example.org/train:1", tolerations=TOLERATE_GPUS, priorityClassName="batch-lowest",
                           nodeSelector=GPU_ONE["node_selector"])
        job["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": str(GPUS)}}
        cluster.admin.create("pods", job, namespace)
        wait_until(lambda: cluster.admin.get("pods", "batch", namespace).get("status", {}).get("phase") == "Running",
                   30, "the batch job running")
        config_file = write_config(tmp_path, profiles=({**GPU_ONE, "placeholders": 1},), namespace=namespace,
                                   placeholders={"enabled": True, "namespace": placeholder_namespace})
        sync(cluster, placeholder_namespace, config_file)

        def scheduled_or_refused() -> dict | None:
            # a preemptor is nominated to the node it evicts for, in the status update that says it did not fit
            for pod in placeholders(cluster, placeholder_namespace):
                status = pod.get("status", {})
                refused = any(c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"
                              for c in status.get("conditions") or [])
                if refused or status.get("nominatedNodeName") or pod["spec"].get("nodeName"):
                    return pod
            return None

        wait_until(scheduled_or_refused, 30, "the scheduler to have placed or refused the placeholder")
        placeholder = scheduled_or_refused()
        assert "nominatedNodeName" not in placeholder["status"] and "nodeName" not in placeholder["spec"]
        batch = cluster.admin.find("pods", "batch", namespace)
        assert batch and "deletionTimestamp" not in batch["metadata"] and batch["status"]["phase"] == "Running"
    finally:
        cluster.admin.delete("pods", "batch", namespace)
        cluster.admin.delete("priorityclasses", "batch-lowest")
