"""A workspace reads only its own pod's events, though the hub watches the events of every namespace.

Pod names repeat across namespaces: anyone may make a pod called like a
workspace in a namespace of their own. Its events must not reach the
workspace's progress stream, nor fail the workspace's start.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from jupyterhub.spawner import SpawnException

from spawner.kubernetes import object_name

from ..support.hub import wait_for
from ..support.k8s_apiserver import ApiServerThread
from .kube import make_spawner, run, write_config

SPEC = {"image": "lab", "profile": "small"}
ELSEWHERE = "elsewhere"
NAME = object_name("ann", "train")
NOT_OURS = "0/9 nodes are available: the look-alike's own trouble."


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("events"))


@pytest.fixture
def api():
    with ApiServerThread() as api:
        yield api


def look_alike(api) -> dict:
    """A pod of the workspace's name in another namespace."""
    body = {"metadata": {"name": NAME}, "spec": {"containers": [{"name": "notebook", "image": "other"}]}}
    r = requests.post(f"{api.url}/api/v1/namespaces/{ELSEWHERE}/pods", json=body, timeout=10)
    r.raise_for_status()
    return r.json()


def warn_about(api, pod: dict, with_uid: bool) -> None:
    """A FailedScheduling Warning on ``pod``; some event sources leave out the pod's uid."""
    involved = {"kind": "Pod", "name": NAME, "namespace": ELSEWHERE}
    if with_uid:
        involved["uid"] = pod["metadata"]["uid"]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "metadata": {"generateName": NAME + "."},
        "involvedObject": involved,
        "reason": "FailedScheduling",
        "message": NOT_OURS,
        "type": "Warning",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": "default-scheduler"},
    }
    requests.post(f"{api.url}/api/v1/namespaces/{ELSEWHERE}/events", json=event, timeout=10).raise_for_status()


def start_beside_a_look_alike(config_file: Path, api, with_uid: bool) -> tuple[SpawnException | None, list[str], str]:
    """Start ann's workspace; while its pod waits for the kubelet, the look-alike gets a Warning.

    Returns the start's error (None: it started) and where the events of its
    progress stream happened, as namespace/pod.
    """
    other = look_alike(api)
    # its own kubelet events come first, then the workspace's pod waits, Pending and unscheduled
    wait_for(lambda: api.store.objects[("pods", ELSEWHERE, NAME)]["status"]["phase"] == "Running", 10, "the look-alike to run")
    api.kubelet.delay = 2

    async def go():
        s = make_spawner(config_file, api.url, user="ann", server="train", unschedulable_grace=0, failure_check_interval=0.05)
        s.apply_spec(SPEC)
        seen: list[str] = []

        async def follow():
            async for event in s.progress():
                if "raw_event" in event:
                    involved = event["raw_event"]["involvedObject"]
                    seen.append(f"{involved['namespace']}/{involved['name']}")

        started = asyncio.ensure_future(s.start())
        follower = asyncio.ensure_future(follow())
        deadline = asyncio.get_running_loop().time() + 10
        while ("pods", s.namespace, NAME) not in api.store.objects:
            assert asyncio.get_running_loop().time() < deadline, "the workspace's pod was never created"
            await asyncio.sleep(0.02)
        await asyncio.to_thread(warn_about, api, other, with_uid)
        try:
            await started
            error = None
        except SpawnException as e:
            error = e
        await asyncio.wait_for(follower, 5)
        return error, seen, s.namespace

    return run(go)


def test_a_look_alike_pods_events_stay_out_of_the_progress_stream(config_file, api):
    error, seen, namespace = start_beside_a_look_alike(config_file, api, with_uid=True)
    assert error is None
    assert seen and set(seen) == {f"{namespace}/{NAME}"}


def test_a_look_alike_pods_failed_scheduling_does_not_fail_the_start(config_file, api):
    error, _, _ = start_beside_a_look_alike(config_file, api, with_uid=False)
    assert error is None, error
