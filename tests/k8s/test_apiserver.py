"""The fault-injection stand-in answers like a real API server where the fault tests rely on it, and injects its faults."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests

from ..support.hub import wait_for
from ..support.k8s_apiserver import ApiServer, ApiServerThread

POD = {"metadata": {"name": "p1", "labels": {"app": "ws", "tier": "a"}}, "spec": {"containers": [{"name": "notebook", "image": "x"}]}}


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServerThread(history=50) as server:
        yield server


def url(api: ApiServer, path: str) -> str:
    return api.url + path


def create(api: ApiServer, path: str, body: dict) -> requests.Response:
    return requests.post(url(api, path), json=body, timeout=10)


def watch(api: ApiServer, path: str, **params: str) -> list[dict]:
    r = requests.get(url(api, path), params={"watch": "True", **params}, timeout=20)
    return [json.loads(line) for line in r.text.splitlines() if line]


def test_create_stamps_metadata_and_a_second_create_is_409(api):
    r = create(api, "/api/v1/namespaces/ns1/pods", POD)
    assert r.status_code == 201
    meta = r.json()["metadata"]
    assert meta["namespace"] == "ns1" and meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    assert r.json()["status"] == {"phase": "Pending"}
    again = create(api, "/api/v1/namespaces/ns1/pods", POD)
    assert again.status_code == 409
    assert (again.json()["kind"], again.json()["reason"]) == ("Status", "AlreadyExists")


def test_get_of_a_missing_object_is_a_404_status(api):
    r = requests.get(url(api, "/api/v1/namespaces/ns1/pods/nope"), timeout=10)
    assert r.status_code == 404
    assert r.json()["reason"] == "NotFound" and r.json()["details"]["name"] == "nope"


def test_list_filters_by_label_and_field_selectors(api):
    api.kubelet.delay = 3600  # keep the pods Pending, for the selector on their phase
    for name, labels in (("a", {"app": "ws", "tier": "x"}), ("b", {"app": "ws"}), ("c", {"app": "other"})):
        create(api, "/api/v1/namespaces/ns1/pods", {"metadata": {"name": name, "labels": labels}})
    create(api, "/api/v1/namespaces/ns2/pods", {"metadata": {"name": "d", "labels": {"app": "ws"}}})

    def names(path: str, **params: str) -> list[str]:
        return [o["metadata"]["name"] for o in requests.get(url(api, path), params=params, timeout=10).json()["items"]]

    assert names("/api/v1/namespaces/ns1/pods", labelSelector="app=ws") == ["a", "b"]
    assert names("/api/v1/namespaces/ns1/pods", labelSelector="app!=ws") == ["c"]
    assert names("/api/v1/namespaces/ns1/pods", labelSelector="tier") == ["a"]
    assert names("/api/v1/namespaces/ns1/pods", labelSelector="!tier,app") == ["b", "c"]
    assert names("/api/v1/namespaces/ns1/pods", labelSelector="app in (other,nothing)") == ["c"]
    assert names("/api/v1/pods", labelSelector="app=ws") == ["a", "b", "d"]  # every namespace
    assert names("/api/v1/pods", fieldSelector="metadata.name=d") == ["d"]
    assert names("/api/v1/namespaces/ns1/pods", fieldSelector="status.phase!=Running") == ["a", "b", "c"]


def test_delete_returns_the_object_then_404(api):
    create(api, "/api/v1/namespaces/ns1/persistentvolumeclaims", {"metadata": {"name": "data"}})
    r = requests.delete(url(api, "/api/v1/namespaces/ns1/persistentvolumeclaims/data"), timeout=10)
    assert r.status_code == 200 and r.json()["metadata"]["name"] == "data"
    assert requests.delete(url(api, "/api/v1/namespaces/ns1/persistentvolumeclaims/data"), timeout=10).status_code == 404


def test_watch_from_a_resource_version_sees_later_changes_and_ends_on_timeout(api):
    api.kubelet.delay = 3600  # keep the pod still
    rv = create(api, "/api/v1/namespaces/ns1/pods", POD).json()["metadata"]["resourceVersion"]
    requests.delete(url(api, "/api/v1/namespaces/ns1/pods/p1"), timeout=10)
    started = time.monotonic()
    events = watch(api, "/api/v1/namespaces/ns1/pods", resourceVersion=rv, timeoutSeconds="1")
    assert [e["type"] for e in events] == ["DELETED"]
    assert 0.9 < time.monotonic() - started < 5


def test_watch_from_zero_starts_with_the_current_objects(api):
    api.kubelet.delay = 3600
    create(api, "/api/v1/namespaces/ns1/pods", POD)
    events = watch(api, "/api/v1/namespaces/ns1/pods", resourceVersion="0", timeoutSeconds="1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "p1")]


def test_watch_from_a_forgotten_resource_version_is_410_gone(api):
    for i in range(60):  # history keeps 50
        create(api, "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": f"c{i}"}})
    [event] = watch(api, "/api/v1/namespaces/ns1/configmaps", resourceVersion="2", timeoutSeconds="1")
    assert event["type"] == "ERROR" and event["object"]["code"] == 410


def test_requests_are_logged(api):
    requests.get(url(api, "/api/v1/namespaces/ns1/pods"), params={"labelSelector": "app=ws"}, timeout=10)
    assert ("GET", "/api/v1/namespaces/ns1/pods", "labelSelector=app%3Dws") in api.store.requests


def test_injected_faults_fail_then_pass(api):
    api.fault("POST", r"/pods$", status=500, times=2)
    assert create(api, "/api/v1/namespaces/ns1/pods", POD).status_code == 500
    assert create(api, "/api/v1/namespaces/ns1/pods", POD).status_code == 500
    assert create(api, "/api/v1/namespaces/ns1/pods", POD).status_code == 201


def test_injected_delays_slow_a_request(api):
    api.fault("GET", r"/pods/p1$", status=0, delay=0.5)
    create(api, "/api/v1/namespaces/ns1/pods", POD)
    started = time.monotonic()
    assert requests.get(url(api, "/api/v1/namespaces/ns1/pods/p1"), timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.5


def pod_status(api: ApiServer) -> dict:
    return requests.get(url(api, "/api/v1/namespaces/ns1/pods/p1"), timeout=10).json()["status"]


def events(api: ApiServer) -> list[str]:
    return [e["reason"] for e in requests.get(url(api, "/api/v1/namespaces/ns1/events"), timeout=10).json()["items"]]


def test_the_kubelet_makes_a_pod_running_and_ready(api):
    create(api, "/api/v1/namespaces/ns1/pods", POD)
    status = wait_for(lambda: pod_status(api) if pod_status(api)["phase"] == "Running" else None, 5, "Running")
    assert status["podIP"] == "127.0.0.1"
    assert status["containerStatuses"][0]["ready"] is True
    assert sorted(events(api)) == ["Scheduled", "Started"]


@pytest.mark.parametrize(
    "fate, reason",
    [("unschedulable", "FailedScheduling"), ("image-pull", "Failed"), ("crash", "BackOff")],
)
def test_the_kubelet_fails_pods_the_ways_real_pods_fail(api, fate, reason):
    api.kubelet.scenario = lambda pod: fate
    create(api, "/api/v1/namespaces/ns1/pods", POD)
    wait_for(lambda: reason in events(api), 5, reason)
    status = pod_status(api)
    if fate == "unschedulable":
        assert status["conditions"][0]["reason"] == "Unschedulable"
        assert "Insufficient nvidia.com/gpu" in status["conditions"][0]["message"]
    else:
        waiting = status["containerStatuses"][0]["state"]["waiting"]["reason"]
        assert waiting == {"image-pull": "ImagePullBackOff", "crash": "CrashLoopBackOff"}[fate]
