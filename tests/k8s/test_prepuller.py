"""The pre-puller on the real control plane: its DaemonSets follow the catalog, the real DaemonSet
controller makes their pods, the real scheduler places them on the simulated nodes.

The controller is driven directly (one sync, or its loop for the retry test),
as a ServiceAccount holding exactly the pre-puller's Role of
config/kubernetes/rbac.yaml, in a fresh namespace that enforces Pod Security
"restricted". The edit through a running hub is in tests/integration/test_kube_prepull.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from spawner.prepuller import PLACEMENT_LABEL, Prepuller
from workspaces.catalog_edits import write_edits

from ..support.cluster import wait_until
from ..support.cluster_fixture import Cluster
from ..support.prepull import CPU_NODES, CUDA, GPU_NODES, LAB, Setup, prepuller_rules
from .conftest import RESTRICTED


@pytest.fixture(scope="module")
def setup(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    s = Setup(cluster, tmp_path_factory.mktemp("prepull"), RESTRICTED)
    s.sync()
    yield s
    cluster.delete_namespace(s.namespace)


@pytest.fixture
def edited(setup: Setup) -> Iterator[Setup]:
    """The setup; its catalog edits and settings undone after the test."""
    yield setup
    setup.edits.unlink(missing_ok=True)
    setup.configure(enabled=True)
    setup.sync()


def test_one_daemon_set_per_placement_pulls_the_offered_images_that_can_run_there(setup):
    # the two CPU profiles share a placement; a GPU image goes where GPU profiles run; hidden images are not offered
    assert setup.pulled() == {CPU_NODES: [LAB], GPU_NODES: [CUDA]}
    gpu = setup.daemon_sets()[GPU_NODES]["metadata"]
    assert gpu["name"] == f"prepull-{gpu['labels'][PLACEMENT_LABEL]}"
    assert gpu["annotations"]["workspaces.jupyter.org/profiles"] == "gpu"
    assert setup.daemon_sets()[CPU_NODES]["metadata"]["annotations"]["workspaces.jupyter.org/profiles"] == "small,large"


def nodes_of(setup: Setup, key: str) -> set[str]:
    selector = setup.daemon_sets()[key]["spec"]["selector"]["matchLabels"]
    pods = setup.cluster.items("pods", setup.namespace, labelSelector=",".join(f"{k}={v}" for k, v in selector.items()))
    return {p["spec"].get("nodeName") for p in pods if p.get("status", {}).get("phase") == "Running"}


def test_gpu_images_are_pulled_on_the_gpu_node_and_cpu_images_on_the_cpu_nodes(setup):
    # the real DaemonSet controller makes the pods, past Pod Security "restricted" of the namespace
    wait_until(lambda: nodes_of(setup, GPU_NODES) == {"gpu-1"}, 60, "the GPU pull pod running on gpu-1")
    wait_until(lambda: nodes_of(setup, CPU_NODES) == {"cpu-1", "cpu-2"}, 60, "CPU pull pods running on cpu-1 and cpu-2")


def test_the_pull_pods_meet_pod_security_restricted(setup):
    for daemon_set in setup.daemon_sets().values():
        template = daemon_set["spec"]["template"]
        # the server's own check, without making anything: a dry run in the restricted namespace
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dry-run"}, "spec": template["spec"]}
        setup.cluster.admin.request("POST", f"/api/v1/namespaces/{setup.namespace}/pods", pod, params={"dryRun": "All"})
        for c in template["spec"]["initContainers"] + template["spec"]["containers"]:
            assert c["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True
        assert template["spec"]["automountServiceAccountToken"] is False


def test_an_image_added_to_the_catalog_is_pulled_and_a_removed_one_no_longer(edited):
    new = {"id": "new", "display_name": "New", "image": "example.org/new:1"}
    write_edits(edited.edits, {"images": [new], "removed": []})
    changes = edited.sync()
    assert changes.updated == [edited.daemon_sets()[CPU_NODES]["metadata"]["name"]] and not changes.created
    assert edited.pulled()[CPU_NODES] == [LAB, "example.org/new:1"]
    write_edits(edited.edits, {"images": [], "removed": ["new"]})
    edited.sync()
    assert edited.pulled()[CPU_NODES] == [LAB]


def test_a_daemon_set_no_longer_needed_is_deleted(edited):
    gpu = edited.daemon_sets()[GPU_NODES]["metadata"]["name"]
    write_edits(edited.edits, {"images": [], "removed": ["cuda"]})
    assert edited.sync().deleted == [gpu]
    edited.cluster.admin.wait_gone("daemonsets", gpu, edited.namespace)
    assert set(edited.pulled()) == {CPU_NODES}


def test_a_sync_with_nothing_to_change_writes_nothing(setup):
    assert not setup.sync()


def test_turning_the_pre_puller_off_removes_its_daemon_sets_and_nothing_else(edited):
    other = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "someone-elses"},
             "spec": {"selector": {"matchLabels": {"app": "x"}},
                      "template": {"metadata": {"labels": {"app": "x"}}, "spec": edited.daemon_sets()[GPU_NODES]["spec"]["template"]["spec"]}}}
    edited.cluster.admin.create("daemonsets", other, edited.namespace)
    edited.configure(enabled=False)
    assert len(edited.sync().deleted) == 2
    assert edited.daemon_sets() == {}
    assert edited.cluster.admin.find("daemonsets", "someone-elses", edited.namespace) is not None
    edited.cluster.admin.delete("daemonsets", "someone-elses", edited.namespace)


@asynccontextmanager
async def running(setup: Setup, identity: Any) -> AsyncIterator[tuple[Prepuller, asyncio.Task]]:
    """The controller's loop as ``identity``, and its task; stopped on leaving."""
    stopping = asyncio.Event()
    async with await setup.client(identity) as client:
        prepuller = setup.prepuller(client)
        task = asyncio.create_task(prepuller.run(stopping))
        try:
            yield prepuller, task
        finally:
            stopping.set()
            await asyncio.wait_for(task, 10)


async def until(condition: Callable[[], Any], what: str) -> None:
    await asyncio.to_thread(wait_until, condition, 30, what)


def test_refused_requests_are_retried_until_they_succeed(cluster, edited, caplog):
    # a real refusal: an identity with no rules yet, given the pre-puller's rules while the loop retries
    name = "late-rules"
    identity = cluster.service_account(edited.namespace, name)
    edited.configure(enabled=False)
    edited.sync()  # none left: the loop must make them
    edited.configure(enabled=True)

    async def go() -> None:
        async with running(edited, identity) as (_, task):
            await until(lambda: "403" in caplog.text, "a refusal logged")
            assert not task.done()
            await asyncio.to_thread(cluster.service_account, edited.namespace, name, prepuller_rules())
            await until(lambda: len(edited.daemon_sets()) == 2, "the DaemonSets made after the refusal")

    with caplog.at_level(logging.WARNING, "test.prepuller"):
        asyncio.run(go())
    assert "Keeping the pre-pull DaemonSets failed (403 Forbidden); retrying in 1s" in caplog.text


def test_each_change_is_logged_with_what_changed(edited, caplog):
    write_edits(edited.edits, {"images": [{"id": "new", "display_name": "New", "image": "example.org/new:1"}], "removed": []})

    async def go() -> None:
        async with await edited.client() as client:
            prepuller = edited.prepuller(client)
            await prepuller.sync()
            write_edits(edited.edits, {"images": [], "removed": ["new"]})
            await prepuller.sync()

    with caplog.at_level(logging.INFO, "test.prepuller"):
        asyncio.run(go())
    name = edited.daemon_sets()[CPU_NODES]["metadata"]["name"]
    assert caplog.messages == [
        f"Pre-pull DaemonSet {edited.namespace}/{name} updated (profiles small,large): pulls {LAB}, example.org/new:1",
        f"Pre-pull DaemonSet {edited.namespace}/{name} updated (profiles small,large): -example.org/new:1",
    ]


def test_an_edit_made_while_requests_are_refused_is_applied_once_they_are_accepted(cluster, edited, caplog):
    name = "refused-later"
    identity = cluster.service_account(edited.namespace, name, rules=prepuller_rules())
    edited.configure(enabled=True, resync=3600)  # no periodic pass: only the retry can bring the edit

    async def go() -> None:
        async with running(edited, identity) as (prepuller, _):
            await until(lambda: prepuller._synced is not None, "the first sync")
            await asyncio.to_thread(edited.cluster.admin.delete, "rolebindings", name, edited.namespace)
            write_edits(edited.edits, {"images": [{"id": "new", "display_name": "New", "image": "example.org/new:1"}],
                                       "removed": []})
            await until(lambda: "403" in caplog.text, "a refusal logged")
            await asyncio.to_thread(cluster.service_account, edited.namespace, name, prepuller_rules())
            await until(lambda: "example.org/new:1" in edited.pulled()[CPU_NODES], "the edit applied after the refusals")

    with caplog.at_level(logging.WARNING, "test.prepuller"):
        asyncio.run(go())
