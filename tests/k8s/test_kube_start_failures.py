"""A start that cannot succeed ends within seconds with the cluster's reason; API trouble leaves no orphans.

On the real cluster: "unschedulable" is the real scheduler's answer to a
profile that asks for more GPUs than any node has; an image that cannot be
pulled and a server that keeps crashing are fates of the simulated kubelet
(``cluster.kubelet.scenario``). A cluster autoscaler's words are written by
the test through the admin client, as the cluster-autoscaler writes them.

What a real API server cannot be made to do on demand (a burst of 5xx, a slow
answer, an outage) is injected into the in-repo stand-in; those tests say so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException

from spawner.kubernetes import object_name

from ..support.cluster import wait_until
from ..support.cluster_fixture import GPUS
from ..support.k8s_apiserver import ApiServerThread
from .kube import hardened_pod, make_spawner, run, start, write_config

SPEC = {"image": "lab", "profile": "small"}
# more GPUs than the GPU node has: every node is "Insufficient nvidia.com/gpu"
TOO_BIG = {
    "id": "gpu-too-big",
    "display_name": "More GPUs than any node",
    "gpu": {"count": 2 * GPUS},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}
UNSCHEDULABLE = {"image": "cuda", "profile": "gpu-too-big"}
OLD_IMAGE = "example.org/old:1"


@pytest.fixture
def config_file(tmp_path: Path, namespace: str) -> Path:
    return write_config(tmp_path, profiles=(TOO_BIG,), namespace=namespace)


@pytest.fixture
def kubelet(cluster, namespace):
    """The simulated kubelet, whose ``scenario`` the test sets; every pod runs again after it."""
    yield cluster.kubelet
    cluster.kubelet.scenario = lambda pod: "run"


def fate_in(namespace: str, fate: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], str]:
    """A kubelet scenario: ``fate(pod)`` for pods in ``namespace``, "run" elsewhere."""
    return lambda pod: fate(pod) if pod["metadata"]["namespace"] == namespace else "run"


def failed_start(cluster, config_file: Path, spec: dict, server: str, meanwhile: Callable[[], None] | None = None,
                 **traits: Any) -> tuple[SpawnException, float, list[str]]:
    """Start a workspace that will fail, doing ``meanwhile`` (in a thread) while it starts.

    Returns the error, the seconds taken and the progress messages.
    """

    async def go():
        s = make_spawner(config_file, cluster, user="ann", server=server,
                         **{"start_timeout": 60, "unschedulable_grace": 0.5, **traits})
        s.apply_spec(spec)
        messages: list[str] = []

        async def follow():
            async for event in s.progress():
                messages.append(event.get("message", ""))

        began = time.monotonic()
        with pytest.raises(SpawnException) as info:
            started = asyncio.ensure_future(s.start())
            follower = asyncio.ensure_future(follow())
            if meanwhile is not None:
                await asyncio.to_thread(meanwhile)
            await started
        took = time.monotonic() - began
        await asyncio.wait_for(follower, 5)
        return info.value, took, messages

    return run(go)


def fail_by(cluster, config_file: Path, kubelet, namespace: str, fate: str) -> tuple[SpawnException, float, list[str]]:
    """A start that fails as ``fate`` says: the scheduler finds no node, or the kubelet's pull or crash."""
    if fate == "unschedulable":
        return failed_start(cluster, config_file, UNSCHEDULABLE, fate)
    kubelet.scenario = fate_in(namespace, lambda pod: fate)
    return failed_start(cluster, config_file, SPEC, fate)


@pytest.mark.parametrize(
    "fate, reason, status, cause",
    [
        ("unschedulable", "unschedulable", 503, "0/3 nodes are available: 3 Insufficient nvidia.com/gpu"),
        ("image-pull", "image", 502, "cannot be pulled (ImagePullBackOff"),
        ("crash", "crash", 502, "keeps crashing (CrashLoopBackOff"),
    ],
)
def test_a_start_that_cannot_succeed_fails_within_seconds_with_the_cause(
    cluster, config_file, kubelet, namespace, fate, reason, status, cause
):
    error, took, _ = fail_by(cluster, config_file, kubelet, namespace, fate)
    assert took < 10, f"took {took:.1f}s; start_timeout is 60s"
    assert (error.reason, error.status_code) == (reason, status)
    assert cause in error.jupyterhub_message


@pytest.mark.parametrize("fate", ["unschedulable", "image-pull", "crash"])
def test_a_failed_start_removes_the_pod_and_keeps_the_pvc(cluster, config_file, kubelet, namespace, fate):
    fail_by(cluster, config_file, kubelet, namespace, fate)
    assert cluster.items("pods", namespace) == []
    [claim] = cluster.items("persistentvolumeclaims", namespace)
    assert claim["metadata"]["name"] == object_name("ann", fate) and not claim["metadata"].get("deletionTimestamp")


def test_a_pod_left_from_before_is_replaced_on_409(cluster, config_file, namespace):
    leftover = cluster.admin.create("pods", hardened_pod(object_name("ann", "old"), OLD_IMAGE), namespace)
    run(lambda: start(config_file, cluster, SPEC, user="ann", server="old"))
    [pod] = cluster.items("pods", namespace)
    assert pod["metadata"]["uid"] != leftover["metadata"]["uid"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspaces"
    assert pod["status"]["phase"] == "Running"


def test_an_unschedulable_pod_gets_its_grace_for_an_autoscaler(cluster, config_file, namespace):
    _, took, _ = failed_start(cluster, config_file, UNSCHEDULABLE, "grace", unschedulable_grace=2)
    assert 2 <= took < 8


def say_as_the_autoscaler(cluster, pod: dict, reason: str, message: str) -> None:
    """An event on ``pod`` as the cluster-autoscaler writes it."""
    meta = pod["metadata"]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.admin.create("events", {
        "metadata": {"generateName": meta["name"] + "."},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "namespace": meta["namespace"],
                           "uid": meta["uid"], "resourceVersion": meta["resourceVersion"]},
        "reason": reason,
        "message": message,
        "type": "Normal",
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": "cluster-autoscaler"},
        "reportingComponent": "cluster-autoscaler",
        "reportingInstance": "cluster-autoscaler",
    }, meta["namespace"])


def no_room(cluster, namespace: str, server: str) -> Callable[[], None]:
    """The autoscaler's look at the workspace's pod, once the real scheduler has said that no node has its GPUs: it cannot help."""
    name = object_name("ann", server)

    def refused_for_its_gpus() -> dict | None:
        events = cluster.items("events", namespace, fieldSelector=f"involvedObject.name={name},reason=FailedScheduling")
        said = any("Insufficient nvidia.com/gpu" in e["message"] for e in events)
        return cluster.admin.find("pods", name, namespace) if said else None

    def look() -> None:
        pod = wait_until(refused_for_its_gpus, 20, "the scheduler to refuse the pod for its GPUs")
        say_as_the_autoscaler(cluster, pod, "NotTriggerScaleUp", "pod didn't trigger scale-up: 1 max node group size reached")

    return look


def test_the_autoscaler_saying_no_ends_the_grace_at_once(cluster, config_file, namespace):
    error, took, _ = failed_start(cluster, config_file, UNSCHEDULABLE, "no-room", meanwhile=no_room(cluster, namespace, "no-room"),
                                  unschedulable_grace=60)
    assert took < 8, f"took {took:.1f}s; the grace was 60s"
    assert error.reason == "unschedulable"


def test_the_progress_stream_shows_the_clusters_events(cluster, config_file, namespace):
    """While the pod waits out its grace, the scheduler's words reach the user (the start ends when the autoscaler says no).

    The hub's event watch brings events in the order the server wrote them, so
    the scheduler's reaches it before the autoscaler's that ends the start.
    """
    _, _, messages = failed_start(cluster, config_file, UNSCHEDULABLE, "progress", meanwhile=no_room(cluster, namespace, "progress"),
                                  unschedulable_grace=60)
    assert any("Insufficient nvidia.com/gpu" in m for m in messages), messages


def test_a_crash_looping_pod_left_from_before_does_not_fail_the_new_start(cluster, config_file, kubelet, namespace):
    """The hub's watch sees the old pod (it carries the workspace labels) crash-looping while the new start replaces it."""
    kubelet.scenario = fate_in(namespace, lambda pod: "crash" if pod["spec"]["containers"][0]["image"] == OLD_IMAGE else "run")
    name = object_name("ann", "stale")
    labels = {"app.kubernetes.io/managed-by": "workspaces", "component": "workspace"}
    cluster.admin.create("pods", hardened_pod(name, OLD_IMAGE, labels=labels), namespace)

    def crash_looping() -> bool:
        statuses = cluster.admin.get("pods", name, namespace).get("status", {}).get("containerStatuses") or []
        return any((s["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff" for s in statuses)

    wait_until(crash_looping, 20, "the kubelet to report the old pod crash-looping")
    run(lambda: start(config_file, cluster, SPEC, user="ann", server="stale"))
    [pod] = cluster.items("pods", namespace)
    assert pod["spec"]["containers"][0]["image"] != OLD_IMAGE and pod["status"]["phase"] == "Running"


# -- API trouble, on the stand-in -----------------------------------------------------------
# A real API server answers 500, 503 or slowly only when it is broken; the
# stand-in injects such answers on demand (``api.fault``).


@pytest.fixture
def api():
    with ApiServerThread() as api:
        yield api


@pytest.fixture
def standin_config(tmp_path: Path) -> Path:
    # the stand-in serves the core API only: no networking.k8s.io for the egress policy
    return write_config(tmp_path / "standin", egress={"enabled": False})


def test_a_burst_of_500s_on_create_is_survived_with_one_pod(standin_config, api):
    """On the stand-in: a real API server cannot be made to answer 500 and 503 to chosen creates."""
    api.fault("POST", r"/pods$", status=500, times=3)
    api.fault("POST", r"/persistentvolumeclaims$", status=503, times=2)
    s = run(lambda: start(standin_config, api, SPEC, user="ann", server="burst"))
    assert [p["metadata"]["name"] for p in api.store.items("pods", s.namespace)] == [object_name("ann", "burst")]
    assert len(api.store.items("persistentvolumeclaims", s.namespace)) == 1


def test_a_slow_api_server_is_survived_with_one_pod(standin_config, api):
    """On the stand-in: a real API server cannot be made to answer one chosen create late.

    The first create outlives the client's timeout but succeeds on the
    server; the retry meets a 409 and replaces it, so one pod remains.
    """
    api.fault("POST", r"/pods$", status=0, delay=2.5, times=1)
    s = run(lambda: start(standin_config, api, SPEC, user="ann", server="slow", k8s_api_request_timeout=1))
    assert [p["metadata"]["name"] for p in api.store.items("pods", s.namespace)] == [object_name("ann", "slow")]


def test_an_api_that_keeps_failing_fails_the_start_and_leaves_no_pod(standin_config, api):
    """On the stand-in: a real API server cannot be made to fail every pod create for longer than the retry budget."""
    api.fault("POST", r"/pods$", status=500, times=-1)

    async def go():
        s = make_spawner(standin_config, api, user="ann", server="down", k8s_api_request_retry_timeout=2)
        s.apply_spec(SPEC)
        with pytest.raises(Exception):
            await s.start()
        return s.namespace

    namespace = run(go)
    api.store.faults.clear()
    assert api.store.items("pods", namespace) == []
