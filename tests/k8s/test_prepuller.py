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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration

from spawner.owned_objects import Changes
from spawner.prepuller import OWNER_LABELS, PLACEMENT_LABEL, Prepuller
from workspaces.catalog import CatalogStore
from workspaces.catalog_edits import write_edits
from workspaces.config import load_config

from ..support.cluster import wait_until
from ..support.cluster_fixture import RBAC, Cluster
from .conftest import RESTRICTED

LAB, CUDA, HIDDEN = "quay.io/jupyter/minimal-notebook:2025-10-20", "quay.io/jupyter/pytorch-notebook:cuda12", "example.org/old:1"
IMAGES = [
    {"id": "lab", "display_name": "Lab", "image": LAB, "default": True},
    {"id": "cuda", "display_name": "CUDA", "image": CUDA, "gpu": True},
    {"id": "old", "display_name": "Old", "image": HIDDEN, "hidden": True},
]
GPU = {"nvidia.com/gpu.present": "true"}
PROFILES = [
    {"id": "small", "display_name": "Small", "default": True},
    {"id": "large", "display_name": "Large", "cpu": {"limit": 4}},
    {"id": "gpu", "display_name": "GPU", "gpu": {"count": 1}, "node_selector": GPU,
     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
]
SELECTOR = ",".join(f"{k}={v}" for k, v in OWNER_LABELS.items())


def prepuller_rules() -> list[dict[str, Any]]:
    [role] = [d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "Role" and "prepuller" in d["metadata"]["name"]]
    return role["rules"]


class Setup:
    """A catalog, a restricted namespace and an identity with the pre-puller's rules there."""

    def __init__(self, cluster: Cluster, root: Path):
        self.cluster = cluster
        self.namespace = cluster.namespace("pp", labels=RESTRICTED)
        self.identity = cluster.service_account(self.namespace, "prepuller", rules=prepuller_rules())
        root.mkdir(parents=True, exist_ok=True)
        (root / "catalog.yaml").write_text(yaml.safe_dump({"images": IMAGES}))
        (root / "profiles.yaml").write_text(yaml.safe_dump({"profiles": PROFILES}))
        self.config = root / "workspaces.yaml"
        self.edits = root / "catalog-edits.yaml"
        self.configure(enabled=True)

    def configure(self, **prepull: Any) -> None:
        kubernetes = {"namespace": self.namespace, "prepull": {"namespace": self.namespace, "interval": 0.1, **prepull}}
        self.config.write_text(yaml.safe_dump({"backend": "kubernetes", "catalog": "catalog.yaml",
                                               "profiles": "profiles.yaml", "kubernetes": kubernetes}))

    def store(self) -> CatalogStore:
        return CatalogStore(load_config(self.config), edits=self.edits)

    async def client(self, identity: Any = None) -> ApiClient:
        configuration = Configuration()
        await kube_config.load_kube_config_from_dict((identity or self.identity).kubeconfig(), client_configuration=configuration)
        return ApiClient(configuration)

    def sync(self) -> Changes:
        async def go() -> Changes:
            store = self.store()
            prepull = store.config.settings.kubernetes.prepull
            async with await self.client() as client:
                return await Prepuller(store, prepull, self.namespace, client).sync()

        return asyncio.run(go())

    def daemon_sets(self) -> dict[str, dict[str, Any]]:
        """Ours, by the node selector of their pods (None: every node)."""
        found = self.cluster.items("daemonsets", self.namespace, labelSelector=SELECTOR)
        return {str(d["spec"]["template"]["spec"].get("nodeSelector")): d for d in found}

    def pulled(self) -> dict[str, list[str]]:
        """The images each DaemonSet pulls, by the node selector of its pods."""
        return {key: [c["image"] for c in d["spec"]["template"]["spec"]["initContainers"]]
                for key, d in self.daemon_sets().items()}


CPU_NODES, GPU_NODES = str(None), str(GPU)


@pytest.fixture(scope="module")
def setup(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    s = Setup(cluster, tmp_path_factory.mktemp("prepull"))
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


def test_refused_requests_are_retried_until_they_succeed(cluster, edited, caplog):
    # a real refusal: an identity with no rules yet, given the pre-puller's rules while the loop retries
    name = "late-rules"
    identity = cluster.service_account(edited.namespace, name)
    edited.configure(enabled=False)
    edited.sync()  # none left: the loop must make them
    edited.configure(enabled=True)

    async def go() -> None:
        stopping = asyncio.Event()
        store = edited.store()
        async with await edited.client(identity) as client:
            prepuller = Prepuller(store, store.config.settings.kubernetes.prepull, edited.namespace, client,
                                  logging.getLogger("test.prepuller"))
            task = asyncio.create_task(prepuller.run(stopping))
            await asyncio.to_thread(wait_until, lambda: "403" in caplog.text, 30, "a refusal logged")
            assert not task.done()
            await asyncio.to_thread(cluster.service_account, edited.namespace, name, prepuller_rules())
            await asyncio.to_thread(wait_until, lambda: len(edited.daemon_sets()) == 2, 30, "the DaemonSets made after the refusal")
            stopping.set()
            await asyncio.wait_for(task, 10)

    with caplog.at_level(logging.WARNING, "test.prepuller"):
        asyncio.run(go())
    assert "Keeping the pre-pull DaemonSets failed (403 Forbidden); retrying in 1s" in caplog.text


def test_each_change_is_logged_with_what_changed(edited, caplog):
    write_edits(edited.edits, {"images": [{"id": "new", "display_name": "New", "image": "example.org/new:1"}], "removed": []})
    store = edited.store()

    async def go() -> None:
        async with await edited.client() as client:
            prepuller = Prepuller(store, store.config.settings.kubernetes.prepull, edited.namespace, client,
                                  logging.getLogger("test.prepuller"))
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
