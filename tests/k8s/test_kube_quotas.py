"""A namespace's ResourceQuota or LimitRange that refuses a workspace gives the user the cluster's reason.

What stays behind: the workspace's claim, when it was made before the pod was
refused. It belongs to the workspace (its files, if it ever ran) and goes only
with it; the next start reuses it. No pod is left.
"""

from __future__ import annotations

import pytest
from jupyterhub.spawner import SpawnException

from ..support.cluster import wait_until
from .kube import run, start

SPEC = {"image": "lab", "profile": "small"}  # small: cpu limit 1, memory limit 2Gi


def refused_start(cluster, config_file) -> SpawnException:
    with pytest.raises(SpawnException) as info:
        run(lambda: start(config_file, cluster, SPEC, user="quinn", server="q"))
    return info.value


def quota(cluster, namespace: str, hard: dict[str, str]) -> None:
    cluster.admin.create("resourcequotas", {"metadata": {"name": "team-budget"}, "spec": {"hard": hard}}, namespace)
    # admission counts against the quota's status, which the controller manager fills in
    wait_until(lambda: cluster.admin.get("resourcequotas", "team-budget", namespace).get("status", {}).get("hard"), 30, "quota status")


def test_a_quota_that_cannot_hold_the_pod_refuses_it_with_its_name_and_figures(cluster, config_file, namespace):
    quota(cluster, namespace, {"limits.cpu": "500m"})
    error = refused_start(cluster, config_file)
    assert error.status_code == 403
    assert "exceeded quota: team-budget" in error.jupyterhub_message
    assert "limits.cpu=500m" in error.jupyterhub_message


def test_a_refused_pod_leaves_no_pod_and_keeps_the_workspaces_claim(cluster, config_file, namespace):
    quota(cluster, namespace, {"limits.cpu": "500m"})
    refused_start(cluster, config_file)
    assert cluster.items("pods", namespace) == []
    assert [c["metadata"]["name"] for c in cluster.items("persistentvolumeclaims", namespace)] == ["ws-quinn--q"]


def test_once_the_quota_allows_it_the_next_start_succeeds_with_the_same_claim(cluster, config_file, namespace):
    quota(cluster, namespace, {"limits.cpu": "500m"})
    refused_start(cluster, config_file)
    [claim] = cluster.items("persistentvolumeclaims", namespace)
    cluster.admin.patch("resourcequotas", "team-budget", {"spec": {"hard": {"limits.cpu": "4"}}}, namespace)
    wait_until(lambda: cluster.admin.get("resourcequotas", "team-budget", namespace)["status"]["hard"]["limits.cpu"] == "4",
               30, "the raised quota")
    run(lambda: start(config_file, cluster, SPEC, user="quinn", server="q"))
    assert [c["metadata"]["uid"] for c in cluster.items("persistentvolumeclaims", namespace)] == [claim["metadata"]["uid"]]


def test_a_quota_on_storage_refuses_the_claim_with_its_figures_and_makes_nothing(cluster, config_file, namespace):
    quota(cluster, namespace, {"requests.storage": "1Gi"})  # the workspace asks for 10Gi
    error = refused_start(cluster, config_file)
    assert error.status_code == 403
    assert "exceeded quota: team-budget" in error.jupyterhub_message and "requests.storage=1Gi" in error.jupyterhub_message
    assert cluster.items("persistentvolumeclaims", namespace) == [] and cluster.items("pods", namespace) == []


def test_a_limit_range_refuses_a_pod_beyond_its_maximum_with_its_words(cluster, config_file, namespace):
    cluster.admin.create("limitranges", {
        "metadata": {"name": "per-container"},
        "spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]},
    }, namespace)
    error = refused_start(cluster, config_file)
    assert error.status_code == 403
    assert "maximum memory usage per Container is 1Gi" in error.jupyterhub_message
    assert cluster.items("pods", namespace) == []
