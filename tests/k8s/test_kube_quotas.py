"""A namespace's ResourceQuota or LimitRange that refuses a workspace gives the user the cluster's reason.

A quota is read before the start makes anything (spawner.kubernetes
``_check_quota``): a start it cannot hold leaves no claim and no pod, and says
the quota's name and figures as the API server would. A LimitRange is the API
server's to judge, when the pod is made: the claim made before stays with the
workspace (its files, if it ever ran) and goes only with it.
"""

from __future__ import annotations

import asyncio

import pytest
from jupyterhub.spawner import SpawnException

from ..support.cluster import wait_until
from .kube import make_spawner, run, start

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


def test_a_start_the_quota_cannot_hold_is_refused_before_anything_is_made(cluster, config_file, namespace):
    quota(cluster, namespace, {"limits.cpu": "500m"})
    mark = cluster.audit_mark()
    error = refused_start(cluster, config_file)
    assert error.jupyterhub_message == (
        f"the namespace {namespace}'s quota cannot hold this workspace: exceeded quota: team-budget, "
        "requested: limits.cpu=1, used: limits.cpu=0, limited: limits.cpu=500m"
    )
    assert cluster.items("pods", namespace) == [] and cluster.items("persistentvolumeclaims", namespace) == []
    made = [p for m, p, q in cluster.requests(since=mark) if m == "POST" and f"/namespaces/{namespace}/" in p]
    assert made == []  # not even tried: the API server never had to refuse it


def test_a_start_the_quota_refuses_leaves_the_servers_record_as_it_was(cluster, config_file, namespace):
    # the hub stores a start's options on the record first; left there, a new record's refused
    # size would count against the storage budget, though no claim was made
    quota(cluster, namespace, {"limits.cpu": "500m"})

    async def refused() -> object:
        s = make_spawner(config_file, cluster, user="quinn", server="q")
        s.handler = object()  # as User.spawn does, just before it records the start's options
        s.orm_spawner.user_options = dict(SPEC)
        s.apply_spec(SPEC)
        with pytest.raises(SpawnException):
            await s.start()
        return s.orm_spawner

    assert run(refused).user_options == {}


def test_once_the_quota_allows_it_the_next_start_succeeds(cluster, config_file, namespace):
    quota(cluster, namespace, {"limits.cpu": "500m"})
    refused_start(cluster, config_file)
    cluster.admin.patch("resourcequotas", "team-budget", {"spec": {"hard": {"limits.cpu": "4"}}}, namespace)
    wait_until(lambda: cluster.admin.get("resourcequotas", "team-budget", namespace)["status"]["hard"]["limits.cpu"] == "4",
               30, "the raised quota")
    run(lambda: start(config_file, cluster, SPEC, user="quinn", server="q"))
    assert [p["status"]["phase"] for p in cluster.items("pods", namespace)] == ["Running"]


def test_a_quota_counts_the_claim_only_when_the_start_makes_it(cluster, config_file, namespace):
    # the first start makes the 10Gi claim; a quota on storage set after it does not refuse the next start
    async def start_stop_start():
        s = await start(config_file, cluster, SPEC, user="quinn", server="q")
        await s.stop()
        await asyncio.to_thread(quota, cluster, namespace, {"requests.storage": "10Gi"})
        again = make_spawner(config_file, cluster, user="quinn", server="q")
        again.apply_spec(SPEC)
        await again.start()

    run(start_stop_start)
    assert len(cluster.items("persistentvolumeclaims", namespace)) == 1


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
