"""A start that cannot succeed ends within seconds with the cluster's reason; API trouble leaves no orphans."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import requests
from jupyterhub.spawner import SpawnException

from spawner.kubernetes import object_name
from workspaces.config import load_config

from ..support.k8s_apiserver import ApiServerThread
from .kube import make_spawner, ours, run, start, write_config

SPEC = {"image": "lab", "profile": "small"}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("failures"))


@pytest.fixture
def api():
    with ApiServerThread() as api:
        yield api


def failed_start(config_file: Path, api, fate: str) -> tuple[SpawnException, float, list[str]]:
    """Start with the kubelet set on ``fate``; returns the error, seconds taken and progress messages."""
    api.kubelet.scenario = lambda pod: fate

    async def go():
        s = make_spawner(config_file, api.url, user="ann", server=fate, start_timeout=60, unschedulable_grace=0.5)
        s.apply_spec(SPEC)
        messages: list[str] = []

        async def follow():
            async for event in s.progress():
                messages.append(event.get("message", ""))

        began = time.monotonic()
        with pytest.raises(SpawnException) as info:
            started = s.start()
            follower = asyncio.ensure_future(follow())
            await started
        took = time.monotonic() - began
        await asyncio.wait_for(follower, 5)
        return info.value, took, messages

    return run(go)


@pytest.mark.parametrize(
    "fate, reason, status, cause",
    [
        ("unschedulable", "unschedulable", 503, "3 Insufficient nvidia.com/gpu"),
        ("image-pull", "image", 502, "cannot be pulled (ImagePullBackOff"),
        ("crash", "crash", 502, "keeps crashing (CrashLoopBackOff"),
    ],
)
def test_a_start_that_cannot_succeed_fails_within_seconds_with_the_cause(config_file, api, fate, reason, status, cause):
    error, took, _ = failed_start(config_file, api, fate)
    assert took < 10, f"took {took:.1f}s; start_timeout is 60s"
    assert (error.reason, error.status_code) == (reason, status)
    assert cause in error.jupyterhub_message


@pytest.mark.parametrize("fate", ["unschedulable", "image-pull", "crash"])
def test_a_failed_start_removes_the_pod_and_keeps_the_pvc(config_file, api, fate):
    failed_start(config_file, api, fate)
    assert ours(api, "pods") == []
    assert [c["metadata"]["name"] for c in ours(api, "persistentvolumeclaims")] == [object_name("ann", fate)]


def test_the_progress_stream_shows_the_clusters_events(config_file, api):
    _, _, messages = failed_start(config_file, api, "unschedulable")
    assert any("Insufficient nvidia.com/gpu" in m for m in messages), messages


def test_a_pod_left_from_before_is_replaced_on_409(config_file, api):
    namespace = load_config(config_file).settings.kubernetes.namespace
    leftover = {"metadata": {"name": object_name("ann", "old")}, "spec": {"containers": [{"name": "notebook", "image": "old"}]}}
    r = requests.post(f"{api.url}/api/v1/namespaces/{namespace}/pods", json=leftover, timeout=10)
    assert r.status_code == 201

    run(lambda: start(config_file, api.url, SPEC, user="ann", server="old"))
    [pod] = api.store.items("pods", namespace)
    assert pod["metadata"]["uid"] != r.json()["metadata"]["uid"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspaces"


def test_a_burst_of_500s_on_create_is_survived_with_one_pod(config_file, api):
    api.fault("POST", r"/pods$", status=500, times=3)
    api.fault("POST", r"/persistentvolumeclaims$", status=503, times=2)
    s = run(lambda: start(config_file, api.url, SPEC, user="ann", server="burst"))
    assert [p["metadata"]["name"] for p in api.store.items("pods", s.namespace)] == [object_name("ann", "burst")]
    assert len(api.store.items("persistentvolumeclaims", s.namespace)) == 1


def test_a_slow_api_server_is_survived_with_one_pod(config_file, api):
    # the first create outlives the client's timeout but succeeds on the server;
    # the retry meets a 409 and replaces it, so one pod remains
    api.fault("POST", r"/pods$", status=0, delay=2.5, times=1)
    s = run(lambda: start(config_file, api.url, SPEC, user="ann", server="slow", k8s_api_request_timeout=1))
    assert [p["metadata"]["name"] for p in api.store.items("pods", s.namespace)] == [object_name("ann", "slow")]


def test_an_api_that_keeps_failing_fails_the_start_and_leaves_no_pod(config_file, api):
    # every create fails for longer than the retry budget
    api.fault("POST", r"/pods$", status=500, times=-1)

    async def go():
        s = make_spawner(config_file, api.url, user="ann", server="down", k8s_api_request_retry_timeout=2)
        s.apply_spec(SPEC)
        with pytest.raises(Exception):
            await s.start()
        return s.namespace

    namespace = run(go)
    api.store.faults.clear()
    assert api.store.items("pods", namespace) == []


def test_an_unschedulable_pod_gets_its_grace_for_an_autoscaler(config_file, api):
    api.kubelet.scenario = lambda pod: "unschedulable"

    async def go():
        s = make_spawner(config_file, api.url, user="ann", server="grace", unschedulable_grace=2)
        s.apply_spec(SPEC)
        began = time.monotonic()
        with pytest.raises(SpawnException):
            await s.start()
        return time.monotonic() - began

    assert 2 <= run(go) < 8


def test_the_autoscaler_saying_no_ends_the_grace_at_once(config_file, api):
    def no_room(pod):
        asyncio.ensure_future(api.kubelet.event(pod, "NotTriggerScaleUp", "pod didn't trigger scale-up: max size reached"))
        return "unschedulable"

    api.kubelet.scenario = no_room

    async def go():
        s = make_spawner(config_file, api.url, user="ann", server="no-room", unschedulable_grace=60)
        s.apply_spec(SPEC)
        began = time.monotonic()
        with pytest.raises(SpawnException) as info:
            await s.start()
        return time.monotonic() - began, info.value

    took, error = run(go)
    assert took < 8 and error.reason == "unschedulable"


def test_a_crash_looping_pod_left_from_before_does_not_fail_the_new_start(config_file, api):
    namespace = load_config(config_file).settings.kubernetes.namespace
    api.kubelet.scenario = lambda pod: "crash" if pod["spec"]["containers"][0]["image"] == "old" else "run"
    leftover = {"metadata": {"name": object_name("ann", "stale")}, "spec": {"containers": [{"name": "notebook", "image": "old"}]}}
    assert requests.post(f"{api.url}/api/v1/namespaces/{namespace}/pods", json=leftover, timeout=10).status_code == 201
    time.sleep(0.3)  # the kubelet reports it crash-looping

    run(lambda: start(config_file, api.url, SPEC, user="ann", server="stale"))
    [pod] = api.store.items("pods", namespace)
    assert pod["spec"]["containers"][0]["image"] != "old"
