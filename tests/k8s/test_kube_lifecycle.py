"""A workspace's life on a real cluster: start, stop, start again, delete; as the hub's ServiceAccount.

The namespace enforces Pod Security ``restricted``, the claim is provisioned
by the cluster's default class and bound by the controller manager, the pod
is placed by the real scheduler, and deletion goes through finalizers and
Terminating objects as on any cluster.
"""

from __future__ import annotations

import asyncio

import pytest

from spawner.kubernetes import object_name

from ..support.cluster import wait_until
from .kube import make_spawner, run, start

SPEC = {"image": "lab", "profile": "small"}


def names(cluster, plural: str, namespace: str) -> list[str]:
    return [o["metadata"]["name"] for o in cluster.items(plural, namespace) if not o["metadata"].get("deletionTimestamp")]


def test_start_creates_the_claim_before_the_pod_and_the_pod_runs(cluster, config_file, namespace):
    mark = cluster.audit_mark()
    s = run(lambda: start(config_file, cluster, SPEC, user="bob", server="exp"))
    name = object_name("bob", "exp")
    [pod] = cluster.items("pods", namespace)
    assert pod["metadata"]["name"] == name and pod["status"]["phase"] == "Running"
    created = [p for m, p, _ in cluster.requests(since=mark) if m == "POST"]
    assert created.index(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims") < created.index(
        f"/api/v1/namespaces/{namespace}/pods"
    )
    assert s.namespace == namespace


def test_the_home_claim_uses_the_default_class_and_is_bound(cluster, config_file, namespace):
    run(lambda: start(config_file, cluster, SPEC, user="bob", server="exp"))
    [claim] = cluster.items("persistentvolumeclaims", namespace)
    assert claim["spec"]["storageClassName"] == "standard"  # filled in by the DefaultStorageClass admission plugin
    assert claim["status"]["phase"] == "Bound"


def test_the_pod_runs_as_a_user_whose_group_owns_the_home_volume(cluster, config_file, namespace):
    run(lambda: start(config_file, cluster, SPEC, user="bob", server="exp"))
    [pod] = cluster.items("pods", namespace)
    context = pod["spec"]["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
    assert context["fsGroup"] == context["runAsGroup"]  # the volume's files belong to the server's group


def test_stop_keeps_the_claim_and_a_new_start_reuses_it(cluster, config_file, namespace):
    async def stop_and_start():
        s = await start(config_file, cluster, SPEC, user="bob", server="again")
        claim = cluster.admin.get("persistentvolumeclaims", s.pvc_name, namespace)
        await s.stop()
        kept = names(cluster, "persistentvolumeclaims", namespace)
        gone = names(cluster, "pods", namespace)
        s.apply_spec(SPEC)
        await s.start()
        return claim["metadata"]["uid"], kept, gone

    uid, kept, pods_after_stop = run(stop_and_start)
    assert kept == [object_name("bob", "again")] and pods_after_stop == []
    [claim] = cluster.items("persistentvolumeclaims", namespace)
    assert claim["metadata"]["uid"] == uid
    assert names(cluster, "pods", namespace) == [object_name("bob", "again")]


def test_delete_removes_the_pod_and_the_claim_and_its_volume(cluster, config_file, namespace):
    async def delete():
        s = await start(config_file, cluster, SPEC, user="bob", server="gone")
        volume = cluster.admin.get("persistentvolumeclaims", s.pvc_name, namespace)["spec"]["volumeName"]
        await s.stop()
        await s.delete_forever()
        return s.pvc_name, volume

    claim, volume = run(delete)
    cluster.admin.wait_gone("persistentvolumeclaims", claim, namespace)
    cluster.admin.wait_gone("persistentvolumes", volume)  # reclaimPolicy Delete: the provisioner removes it
    assert cluster.items("pods", namespace) == []


def test_stop_then_start_at_once_ends_with_one_running_pod(cluster, config_file, namespace):
    async def bounce():
        s = await start(config_file, cluster, SPEC, user="bob", server="bounce")
        first = cluster.admin.get("pods", s.pod_name, namespace)["metadata"]["uid"]
        await s.stop(now=True)
        s.apply_spec(SPEC)
        await s.start()
        return first, s.pod_name

    first, name = run(bounce)
    [pod] = cluster.items("pods", namespace)
    assert pod["metadata"]["name"] == name and pod["metadata"]["uid"] != first
    assert not pod["metadata"].get("deletionTimestamp") and pod["status"]["phase"] == "Running"


def test_a_start_while_the_old_pod_is_still_terminating_replaces_it(cluster, config_file, namespace):
    """The old pod is still Terminating (its container takes a while to stop) when the new start creates the pod."""
    cluster.kubelet.stop_delay = 3

    async def overlap():
        s = await start(config_file, cluster, SPEC, user="bob", server="overlap")
        old = cluster.admin.get("pods", s.pod_name, namespace)["metadata"]["uid"]
        # deleted with a long grace period by someone else (a drain, an admin): Terminating for a while
        cluster.admin.delete("pods", s.pod_name, namespace, gracePeriodSeconds=30)
        assert cluster.admin.get("pods", s.pod_name, namespace)["metadata"].get("deletionTimestamp")
        again = make_spawner(config_file, cluster, user="bob", server="overlap")
        again.apply_spec(SPEC)
        await again.start()
        return old

    try:
        old = run(overlap)
    finally:
        cluster.kubelet.stop_delay = 0
    [pod] = cluster.items("pods", namespace)
    assert pod["metadata"]["uid"] != old and pod["status"]["phase"] == "Running"


def test_delete_then_create_at_once_never_reuses_the_terminating_claim(cluster, config_file, namespace):
    async def recreate():
        s = await start(config_file, cluster, SPEC, user="bob", server="reborn")
        old = cluster.admin.get("persistentvolumeclaims", s.pvc_name, namespace)["metadata"]["uid"]
        await s.stop()
        await s.delete_forever()
        again = make_spawner(config_file, cluster, user="bob", server="reborn")
        again.apply_spec(SPEC)
        await again.start()
        return old

    old = run(recreate)
    [claim] = cluster.items("persistentvolumeclaims", namespace)
    assert claim["metadata"]["uid"] != old
    assert not claim["metadata"].get("deletionTimestamp") and claim["status"]["phase"] == "Bound"
    assert [p["status"]["phase"] for p in cluster.items("pods", namespace)] == ["Running"]
