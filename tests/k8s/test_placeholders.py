"""Placeholders on the real control plane: the real scheduler preempts one for a workspace.

The hub's placeholder controller (spawner.placeholders) runs as a ServiceAccount
holding exactly the Role of config/kubernetes/placeholders.yaml in the
placeholders' namespace, with that file's PriorityClasses. gpu-1 is the
only GPU node (four nvidia.com/gpu, tainted); other tests use its GPUs too, so
each test here waits for them all to be free and gives them back at its end.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import yaml

from spawner.base import WorkspaceSpawnFailed
from spawner.placeholders import keep_placeholders
from workspaces.catalog import CatalogStore
from workspaces.config import load_config

from ..support.cluster import wait_until
from ..support.cluster_fixture import GPUS
from .kube import make_spawner, run, use_cluster, write_config
from .placeholders import (GPU_ONE, documented_hub, placeholder_namespace, placeholders,  # noqa: F401 (fixtures)
                           priority_classes, sync)


def replicas(cluster, namespace: str) -> dict[str, int]:
    return {d["metadata"]["name"]: d["spec"]["replicas"] for d in cluster.items("deployments", namespace)}


def test_a_gpu_workspace_preempts_a_placeholder_and_starts_on_the_node_it_held(cluster, tmp_path, namespace, placeholder_namespace):
    wait_until(lambda: cluster.gpus_free() == GPUS, 60, "the GPUs of earlier tests' pods to be free")
    config_file = write_config(tmp_path, profiles=({**GPU_ONE, "placeholders": GPUS},), namespace=namespace,
                               placeholders={"enabled": True, "namespace": placeholder_namespace})
    sync(cluster, placeholder_namespace, config_file)

    def held() -> list[str]:
        return [p["spec"].get("nodeName") for p in placeholders(cluster, placeholder_namespace)
                if p.get("status", {}).get("phase") == "Running"]

    wait_until(lambda: held() == ["gpu-1"] * GPUS, 60, "a placeholder on each of gpu-1's GPUs")
    assert cluster.gpus_free() == 0

    async def start() -> str:
        s = make_spawner(config_file, cluster, user="pia")
        s.apply_spec({"image": "cuda", "profile": "gpu-one"})
        await s.start()
        return s.pod_name

    pod = cluster.admin.get("pods", run(start), namespace)
    assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"] == "gpu-1"
    # its Deployment made the preempted one again, and it waits for a node: what makes an autoscaler add one
    wait_until(lambda: len(placeholders(cluster, placeholder_namespace)) == GPUS and len(held()) == GPUS - 1,
               30, "three placeholders running and one made again")
    [pending] = [p for p in placeholders(cluster, placeholder_namespace) if not p["spec"].get("nodeName")]
    [scheduled] = pending["status"]["conditions"]
    assert (scheduled["type"], scheduled["reason"]) == ("PodScheduled", "Unschedulable")
    cluster.admin.delete("pods", pod["metadata"]["name"], namespace)


def test_the_placeholders_follow_the_profiles_count_and_go_when_turned_off(cluster, tmp_path, namespace, placeholder_namespace):
    small = {"id": "tiny", "display_name": "Tiny", "cpu": {"guarantee": 0.05}, "memory": {"guarantee": "16Mi"}}

    def configure(count: int, enabled: bool = True) -> Path:
        return write_config(tmp_path, profiles=({**small, "placeholders": count},), namespace=namespace,
                            placeholders={"enabled": enabled, "namespace": placeholder_namespace})

    sync(cluster, placeholder_namespace, configure(2))
    assert replicas(cluster, placeholder_namespace) == {"placeholder-tiny": 2}
    wait_until(lambda: len(placeholders(cluster, placeholder_namespace)) == 2, 30, "two placeholder pods")
    sync(cluster, placeholder_namespace, configure(1))
    assert replicas(cluster, placeholder_namespace) == {"placeholder-tiny": 1}
    sync(cluster, placeholder_namespace, configure(1, enabled=False))
    assert replicas(cluster, placeholder_namespace) == {}


def test_the_api_services_task_follows_a_catalog_edit_and_when_off_removes_them(cluster, tmp_path, namespace, placeholder_namespace):
    small = {"id": "tiny", "display_name": "Tiny", "cpu": {"guarantee": 0.05}, "memory": {"guarantee": "16Mi"}, "placeholders": 1}
    settings = {"enabled": True, "namespace": placeholder_namespace, "interval": 0.2}
    config_file = write_config(tmp_path, profiles=(small,), namespace=namespace, placeholders=settings)
    use_cluster(documented_hub(cluster, placeholder_namespace))
    log = logging.getLogger("test.placeholders")

    async def edited_while_running() -> None:
        task = asyncio.ensure_future(keep_placeholders(CatalogStore(load_config(config_file)), log))
        try:
            await asyncio.to_thread(wait_until, lambda: replicas(cluster, placeholder_namespace) == {"placeholder-tiny": 1},
                                    30, "the task to make the placeholders")
            profiles = tmp_path / "profiles.yaml"
            listed = yaml.safe_load(profiles.read_text())
            [tiny] = [p for p in listed["profiles"] if p["id"] == "tiny"]
            tiny["placeholders"] = 3
            # replaced as an editor saves: a new file, whatever the clock's resolution
            (tmp_path / "profiles.new").write_text(yaml.safe_dump(listed))
            os.replace(tmp_path / "profiles.new", profiles)
            await asyncio.to_thread(wait_until, lambda: replicas(cluster, placeholder_namespace) == {"placeholder-tiny": 3},
                                    30, "the task to follow the edit")
        finally:
            task.cancel()

    run(edited_while_running)
    off = write_config(tmp_path, profiles=(small,), namespace=namespace, placeholders={**settings, "enabled": False})
    run(lambda: keep_placeholders(CatalogStore(load_config(off)), log))  # one pass, and done
    assert replicas(cluster, placeholder_namespace) == {}


def test_without_the_workspaces_priority_class_a_start_fails_at_once_naming_it(cluster, tmp_path, namespace):
    # an install that turned placeholders on but did not make the classes (config/kubernetes/placeholders.yaml)
    config_file = write_config(tmp_path, namespace=namespace,
                               placeholders={"enabled": True, "workspace_priority_class": "never-made"})

    async def start() -> str:
        s = make_spawner(config_file, cluster, user="pia")
        s.apply_spec({"image": "lab", "profile": "small"})
        try:
            await s.start()
        except WorkspaceSpawnFailed as e:
            return str(e)
        return "started"

    message = run(start)
    assert "the cluster refused the workspace's pod" in message and "no PriorityClass with name never-made" in message
    assert cluster.items("pods", namespace) == []
