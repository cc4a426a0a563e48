"""A workspace reads only its own pod's events, though the hub watches the events of every namespace.

Pod names repeat across namespaces: anyone may make a pod called like a
workspace in a namespace of their own. Its events must not reach the
workspace's progress stream, nor fail the workspace's start.

On the real cluster the admin makes the look-alike in another namespace, with
a node selector that no node matches, so the real scheduler says
FailedScheduling about it. It must say so while the workspace's pod is
starting and not yet scheduled (once a pod is scheduled, FailedScheduling is
history to the failure check, which would hide a leak). So the workspace's
claim is of a class that no provisioner serves: its pod waits for the claim,
which is no failure, until the test provides the volume by hand, as an
administrator would.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from jupyterhub.spawner import SpawnException

from spawner.kubernetes import object_name

from ..support.cluster import wait_until
from .kube import hardened_pod, make_spawner, run, write_config

SPEC = {"image": "lab", "profile": "small"}
NAME = object_name("ann", "train")
NOWHERE = {"workspaces.test/no-such-node": "true"}  # no node has this label
UNSERVED = "workspaces.test/by-hand"  # no provisioner serves this name


@pytest.fixture(scope="module")
def by_hand(cluster):
    """A storage class whose claims wait until someone makes their volume."""
    name = f"by-hand-{uuid.uuid4().hex[:6]}"
    cluster.admin.create("storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
        "provisioner": UNSERVED, "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate",
    })
    yield name
    cluster.admin.delete("storageclasses", name)


@pytest.fixture
def config_file(tmp_path: Path, namespace: str, by_hand: str) -> Path:
    return write_config(tmp_path, namespace=namespace, storage_class=by_hand)


@pytest.fixture
def elsewhere(cluster):
    """Someone else's namespace."""
    name = cluster.namespace("elsewhere")
    yield name
    cluster.delete_namespace(name)


@pytest.fixture
def volumes(cluster):
    """Volumes made by hand (kept by their class's Retain policy), removed after the test."""
    made: list[str] = []
    yield made
    for name in made:
        cluster.admin.delete("persistentvolumes", name)


def waiting_for_its_claim(cluster, namespace: str) -> bool:
    """The workspace's pod is there, and the scheduler holds it back until its claim is bound."""
    pod = cluster.admin.find("pods", NAME, namespace)
    conditions = (pod or {}).get("status", {}).get("conditions") or []
    return any(c["type"] == "PodScheduled" and c["status"] == "False" and "unbound immediate PersistentVolumeClaims"
               in c.get("message", "") for c in conditions)


def unschedulable_look_alike(cluster, namespace: str) -> dict:
    """A pod of the workspace's name in ``namespace``, which the real scheduler says it cannot place."""
    pod = cluster.admin.create("pods", hardened_pod(NAME, "example.org/other:1", nodeSelector=NOWHERE), namespace)
    wait_until(
        lambda: cluster.items("events", namespace, fieldSelector=f"involvedObject.name={NAME},reason=FailedScheduling"),
        20, "the scheduler's FailedScheduling for the look-alike",
    )
    return pod


def warn_without_uid(cluster, pod: dict) -> str:
    """A FailedScheduling Warning about ``pod`` as some event sources write it: without the pod's uid. Its name."""
    namespace = pod["metadata"]["namespace"]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return cluster.admin.create("events", {
        "metadata": {"generateName": NAME + "."},
        "involvedObject": {"kind": "Pod", "name": NAME, "namespace": namespace},
        "reason": "FailedScheduling",
        "message": "0/9 nodes are available: the look-alike's own trouble.",
        "type": "Warning",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": "default-scheduler"},
    }, namespace)["metadata"]["name"]


def provide_volume(cluster, namespace: str, volumes: list[str]) -> None:
    """A volume for the workspace's claim, as an administrator makes one by hand."""
    claim = cluster.admin.get("persistentvolumeclaims", NAME, namespace)
    name = f"by-hand-{claim['metadata']['uid']}"
    cluster.admin.create("persistentvolumes", {
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
            "accessModes": claim["spec"]["accessModes"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": claim["spec"]["storageClassName"],
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace, "name": NAME,
                         "uid": claim["metadata"]["uid"]},
            "hostPath": {"path": f"/tmp/{name}"},
        },
    })
    volumes.append(name)


def start_beside_a_look_alike(cluster, config_file: Path, namespace: str, elsewhere: str, volumes: list[str],
                              with_uid: bool) -> tuple[SpawnException | None, list[str]]:
    """Start ann's workspace; while its pod waits for its claim, the look-alike is refused by the scheduler.

    Returns the start's error (None: it started) and where the events of its
    progress stream happened, as namespace/pod.
    """

    async def go():
        s = make_spawner(config_file, cluster, user="ann", server="train", unschedulable_grace=0, failure_check_interval=0.05)
        s.apply_spec(SPEC)
        seen: list[str] = []

        async def follow():
            async for event in s.progress():
                if "raw_event" in event:
                    involved = event["raw_event"]["involvedObject"]
                    seen.append(f"{involved['namespace']}/{involved['name']}")

        started = asyncio.ensure_future(s.start())
        follower = asyncio.ensure_future(follow())
        await asyncio.to_thread(wait_until, lambda: waiting_for_its_claim(cluster, namespace), 20,
                                "the workspace's pod to wait for its claim")
        other = await asyncio.to_thread(unschedulable_look_alike, cluster, elsewhere)
        uidless = None if with_uid else await asyncio.to_thread(warn_without_uid, cluster, other)

        def heard() -> bool:
            """The hub's event watch has the scheduler's word about the look-alike (and the uid-less one)."""
            about = [e for e in s.event_reflector.events if e["involvedObject"].get("namespace") == elsewhere]
            by_the_scheduler = any(e["involvedObject"].get("uid") == other["metadata"]["uid"] for e in about)
            return by_the_scheduler and (uidless is None or any(e["metadata"]["name"] == uidless for e in about))

        deadline = asyncio.get_running_loop().time() + 10
        while not heard():
            assert asyncio.get_running_loop().time() < deadline, "the hub never heard of the look-alike"
            await asyncio.sleep(0.02)
        assert not started.done(), "the start ended before the look-alike's events reached the hub"
        await asyncio.to_thread(provide_volume, cluster, namespace, volumes)
        try:
            await started
            error = None
        except SpawnException as e:
            error = e
        await asyncio.wait_for(follower, 5)
        return error, seen

    return run(go)


def test_a_look_alike_pods_events_stay_out_of_the_progress_stream(cluster, config_file, namespace, elsewhere, volumes):
    error, seen = start_beside_a_look_alike(cluster, config_file, namespace, elsewhere, volumes, with_uid=True)
    assert error is None
    assert seen and set(seen) == {f"{namespace}/{NAME}"}


def test_a_look_alike_pods_failed_scheduling_does_not_fail_the_start(cluster, config_file, namespace, elsewhere, volumes):
    """Not the scheduler's (which names the look-alike's uid), nor one from a source that leaves the uid out."""
    error, _ = start_beside_a_look_alike(cluster, config_file, namespace, elsewhere, volumes, with_uid=False)
    assert error is None, error
