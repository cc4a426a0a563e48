"""The pod cache keeps only what the spawner and KubeSpawner read of a pod, and they read it the same."""

from __future__ import annotations

import copy
import json

from kubespawner import KubeSpawner

from spawner.pod_failures import pod_failure
from spawner.reflectors import _SlimPods, slim_pod, slim_pod_page

# A workspace pod as the API server lists it (shortened: one env variable,
# one volume, one managedFields entry; a real one has dozens).
FULL = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {
        "name": "ws-ann--train",
        "namespace": "ws-team",
        "uid": "6f1c2a1e-0000-4000-8000-000000000001",
        "resourceVersion": "81723",
        "creationTimestamp": "2026-11-30T01:00:00Z",
        "labels": {"app.kubernetes.io/managed-by": "workspaces", "component": "workspace",
                   "workspaces.jupyter.org/owner": "ann", "workspaces.jupyter.org/workspace": "train"},
        "annotations": {"hub.jupyter.org/username": "ann", "sidecar.istio.io/inject": "true"},
        "ownerReferences": [],
        "managedFields": [{"manager": "kubelet", "operation": "Update", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:status": {"f:conditions": {}, "f:podIP": {}}}}],
    },
    "spec": {
        "containers": [{
            "name": "notebook",
            "image": "quay.io/jupyter/minimal-notebook:2026-11-01",
            "args": ["jupyterhub-singleuser"],
            "env": [{"name": "JUPYTERHUB_API_URL", "value": "http://hub:8081/hub/api"}],
            "ports": [{"name": "notebook-port", "containerPort": 8888, "protocol": "TCP"}],
            "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}},
            "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}],
            "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
        }],
        "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "ws-ann--train"}}],
        "nodeName": "cpu-1",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.7",
        "podIPs": [{"ip": "10.0.0.7"}],
        "hostIP": "192.168.0.2",
        "startTime": "2026-11-30T01:00:01Z",
        "qosClass": "Burstable",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-30T01:00:00Z"},
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-30T01:00:05Z"},
        ],
        "containerStatuses": [{
            "name": "notebook", "ready": True, "started": True, "restartCount": 0,
            "image": "quay.io/jupyter/minimal-notebook:2026-11-01", "imageID": "docker-pullable://sha256:ab",
            "containerID": "containerd://c1",
            "state": {"running": {"startedAt": "2026-11-30T01:00:04Z"}},
            "lastState": {},
        }],
    },
}


def test_a_cached_pod_keeps_exactly_what_the_spawner_reads():
    assert slim_pod(FULL) == {
        "metadata": {
            "name": "ws-ann--train",  # the cache's key
            "namespace": "ws-team",  # the cache's key; Kubeflow namespace recovery
            "uid": "6f1c2a1e-0000-4000-8000-000000000001",  # stale pod, events, owner references
            "resourceVersion": "81723",  # a relist keeps an unchanged cached pod
            "labels": FULL["metadata"]["labels"],  # Kubeflow namespace recovery
        },
        # the port named notebook-port (KubeSpawner's _get_pod_port)
        "spec": {"containers": [{"name": "notebook", "ports": [{"name": "notebook-port", "containerPort": 8888}]}]},
        "status": {
            "phase": "Running",  # poll, is_pod_running, pod_failures
            "podIP": "10.0.0.7",  # the server's URL
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": [{
                "name": "notebook", "ready": True, "image": "quay.io/jupyter/minimal-notebook:2026-11-01",
                "state": {"running": {}}, "lastState": {},
            }],
        },
    }


def test_what_a_failing_pod_says_is_kept():
    crashing = copy.deepcopy(FULL)
    crashing["metadata"]["deletionTimestamp"] = "2026-11-30T02:00:00Z"
    crashing["status"].update(nominatedNodeName="gpu-1", initContainerStatuses=[{
        "name": "init", "ready": False, "image": "busybox", "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
        "lastState": {"terminated": {"exitCode": 3, "reason": "Error", "startedAt": "x", "finishedAt": "y"}},
    }])
    crashing["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "z"}}
    slim = slim_pod(crashing)
    assert slim["metadata"]["deletionTimestamp"] == "2026-11-30T02:00:00Z"
    assert slim["status"]["nominatedNodeName"] == "gpu-1"
    assert slim["status"]["initContainerStatuses"] == [{
        "name": "init", "ready": False, "image": "busybox",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
        "lastState": {"terminated": {"exitCode": 3}},
    }]
    assert slim["status"]["containerStatuses"][0]["state"] == {"terminated": {"exitCode": 1, "reason": "Error"}}


def test_fields_the_pod_lacks_stay_absent():
    # KubeSpawner tells "no container yet" (poll) by a missing containerStatuses, not an empty one
    pending = {"metadata": {"name": "ws-a", "namespace": "n", "uid": "u"}, "spec": {"containers": [{"name": "notebook"}]},
               "status": {"phase": "Pending"}}
    assert slim_pod(pending) == pending


def test_the_spawner_reads_a_slim_pod_as_it_reads_the_full_one():
    unschedulable = copy.deepcopy(FULL)
    unschedulable["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available."}]}
    pulling = copy.deepcopy(FULL)
    pulling["status"]["phase"] = "Pending"
    pulling["status"]["containerStatuses"][0].update(ready=False, state={"waiting": {"reason": "ImagePullBackOff", "message": "not found"}})
    for pod in (FULL, unschedulable, pulling):
        slim = slim_pod(pod)
        assert KubeSpawner.is_pod_running(None, slim) == KubeSpawner.is_pod_running(None, pod)
        assert pod_failure(slim) == pod_failure(pod)
    assert KubeSpawner._get_pod_port(None, slim_pod(FULL)) == 8888
    assert pod_failure(slim_pod(unschedulable)).reason == "unschedulable"
    assert pod_failure(slim_pod(pulling)).reason == "image"


def test_pods_from_the_watch_are_slimmed_as_those_from_a_list():
    cache = _SlimPods()
    cache["ws-team/ws-ann--train"] = copy.deepcopy(FULL)
    assert cache["ws-team/ws-ann--train"] == slim_pod(FULL)


def test_a_relist_keeps_the_cached_pods_that_did_not_change():
    before = _SlimPods()
    before["ws-team/ws-ann--train"] = copy.deepcopy(FULL)
    changed = copy.deepcopy(FULL)
    changed["metadata"]["resourceVersion"] = "81724"
    relist = _SlimPods(reuse=before)
    relist["ws-team/ws-ann--train"] = copy.deepcopy(FULL)
    assert relist["ws-team/ws-ann--train"] is before["ws-team/ws-ann--train"]
    relist["ws-team/ws-ann--train"] = changed
    assert relist["ws-team/ws-ann--train"] == slim_pod(changed)


def page_of(*pods: dict) -> bytes:
    return json.dumps({"kind": "PodList", "metadata": {"resourceVersion": "9", "continue": "c"}, "items": list(pods)}).encode()


def test_a_page_of_pods_is_decoded_into_what_slim_pod_keeps():
    unschedulable = copy.deepcopy(FULL)
    unschedulable["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available."}]}
    crashed = copy.deepcopy(FULL)
    crashed["status"]["containerStatuses"][0].update(
        state={"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "t"}}, lastState={"terminated": {"exitCode": 1}})
    bare = {"metadata": {"name": "ws-a", "namespace": "n", "uid": "u"}, "spec": {"containers": [{"name": "notebook"}]},
            "status": {"phase": "Pending"}}
    page = slim_pod_page(page_of(FULL, unschedulable, crashed, bare))
    assert page["items"] == [slim_pod(p) for p in (FULL, unschedulable, crashed, bare)]
    assert page["metadata"] == {"resourceVersion": "9", "continue": "c"}


def test_a_pod_of_an_unexpected_shape_does_not_keep_its_page_out_of_the_cache():
    odd = copy.deepcopy(FULL)
    odd["metadata"]["name"] = "ws-odd"
    odd["spec"]["containers"] = "not a list"  # the typed decoder refuses it; slim_pod passes it through
    page = slim_pod_page(page_of(FULL, odd))
    assert page["items"] == [slim_pod(FULL), slim_pod(odd)]


def test_a_relist_page_keeps_the_cached_pods_that_did_not_change():
    before = _SlimPods()
    before["ws-team/ws-ann--train"] = copy.deepcopy(FULL)
    relist = _SlimPods(reuse=before)
    relist.put_slim("ws-team/ws-ann--train", slim_pod_page(page_of(FULL))["items"][0])
    assert relist["ws-team/ws-ann--train"] is before["ws-team/ws-ann--train"]
