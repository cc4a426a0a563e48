"""The test cluster is a real one: it refuses, schedules, binds and deletes as Kubernetes does.

These pin the behaviours the backend's tests rely on, so that a change to the
control plane or to the simulated nodes that would make them pass too easily
fails here first.
"""

from __future__ import annotations

import pytest

from ..support.cluster import KubeError, wait_until
from ..support.cluster_fixture import GPUS

PAUSE = "registry.k8s.io/pause:3.10"


def pod(name: str, **spec) -> dict:
    container = {"name": "main", "image": PAUSE, **spec.pop("container", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def restricted_container() -> dict:
    return {
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    }


def test_a_request_outside_a_roles_rules_is_refused_naming_user_verb_and_resource(cluster):
    ns = cluster.namespace("rbac")
    reader = cluster.service_account(ns, "reader", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    assert reader.list("pods", ns) == []
    with pytest.raises(KubeError) as refused:
        reader.create("secrets", {"metadata": {"name": "s"}, "stringData": {"k": "v"}}, ns)
    assert refused.value.code == 403
    message = refused.value.status["message"]
    assert f"system:serviceaccount:{ns}:reader" in message and 'cannot create resource "secrets"' in message


def test_a_restricted_namespace_refuses_a_pod_that_may_run_as_root(cluster):
    ns = cluster.namespace("psa", labels={"pod-security.kubernetes.io/enforce": "restricted"})
    with pytest.raises(KubeError) as refused:
        cluster.admin.create("pods", pod("root"), ns)
    assert refused.value.code == 403
    assert 'violates PodSecurity "restricted' in refused.value.status["message"]
    cluster.admin.create("pods", pod("hardened", container=restricted_container()), ns)


def test_the_scheduler_binds_a_gpu_pod_to_the_gpu_node_and_the_kubelet_runs_it(cluster):
    ns = cluster.namespace("gpu")
    try:
        cluster.admin.create("pods", pod(
            "one-gpu",
            container={"resources": {"limits": {"nvidia.com/gpu": "1"}}},
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        ), ns)
        running = wait_until(
            lambda: (p := cluster.admin.get("pods", "one-gpu", ns))["status"].get("phase") == "Running" and p, 30, "the pod to run"
        )
        assert running["spec"]["nodeName"] == "gpu-1"
    finally:
        cluster.delete_namespace(ns)  # the session's cluster: later tests count its GPUs


def test_a_pod_asking_for_more_gpus_than_any_node_has_is_refused_by_the_scheduler(cluster):
    ns = cluster.namespace("gpu")
    cluster.admin.create("pods", pod(
        "too-many",
        container={"resources": {"limits": {"nvidia.com/gpu": str(GPUS + 1)}}},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    ), ns)

    def failed_scheduling():
        events = cluster.admin.list("events", ns, fieldSelector="involvedObject.name=too-many,reason=FailedScheduling")
        return events and events[0]["message"]

    assert "Insufficient nvidia.com/gpu" in wait_until(failed_scheduling, 30, "FailedScheduling")


def test_a_claim_without_a_class_gets_the_default_class_and_is_bound(cluster):
    ns = cluster.namespace("pvc")
    cluster.admin.create("persistentvolumeclaims", {
        "metadata": {"name": "home"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }, ns)
    bound = wait_until(
        lambda: (c := cluster.admin.get("persistentvolumeclaims", "home", ns))["status"].get("phase") == "Bound" and c,
        30, "the claim to be bound",
    )
    assert bound["spec"]["storageClassName"] == "standard"


def test_a_claim_of_the_empty_class_is_never_provisioned(cluster):
    ns = cluster.namespace("pvc")
    cluster.admin.create("persistentvolumeclaims", {
        "metadata": {"name": "home"},
        "spec": {"storageClassName": "", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }, ns)
    # the controller manager looks for a pre-made volume without a class, finds none, and says so
    wait_until(
        lambda: cluster.admin.list("events", ns, fieldSelector="involvedObject.name=home,reason=FailedBinding"),
        60, "FailedBinding",
    )
    assert cluster.admin.get("persistentvolumeclaims", "home", ns)["status"]["phase"] == "Pending"


def test_a_claim_in_use_stays_terminating_until_its_pod_is_gone(cluster):
    ns = cluster.namespace("pvc")
    cluster.admin.create("persistentvolumeclaims", {
        "metadata": {"name": "home"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }, ns)
    volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "home"}}]
    cluster.admin.create("pods", pod("user", volumes=volumes), ns)
    wait_until(lambda: cluster.admin.get("pods", "user", ns)["status"].get("phase") == "Running", 30, "the pod to run")
    cluster.admin.delete("persistentvolumeclaims", "home", ns)
    claim = cluster.admin.get("persistentvolumeclaims", "home", ns)
    assert claim["metadata"].get("deletionTimestamp") and "kubernetes.io/pvc-protection" in claim["metadata"]["finalizers"]
    with pytest.raises(KubeError) as conflict:
        cluster.admin.create("persistentvolumeclaims", {
            "metadata": {"name": "home"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }, ns)
    assert conflict.value.code == 409
    cluster.admin.delete("pods", "user", ns)
    cluster.admin.wait_gone("persistentvolumeclaims", "home", ns)


def test_a_quota_refuses_a_pod_it_cannot_hold_with_its_figures(cluster):
    ns = cluster.namespace("quota")
    cluster.admin.create("resourcequotas", {"metadata": {"name": "small"}, "spec": {"hard": {"limits.cpu": "1"}}}, ns)
    wait_until(lambda: cluster.admin.get("resourcequotas", "small", ns).get("status", {}).get("hard"), 30, "quota status")
    with pytest.raises(KubeError) as refused:
        cluster.admin.create("pods", pod("big", container={"resources": {"limits": {"cpu": "2"}}}), ns)
    assert refused.value.code == 403
    assert "exceeded quota: small" in refused.value.status["message"]
