"""Placeholders (spawner.placeholders): a Deployment of pause pods per profile, each the size of its workspaces."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient

from spawner.placeholders import PAUSE_IMAGE, wanted_deployments
from workspaces.catalog import load_catalog
from workspaces.config import load_config
from workspaces.errors import ConfigError

from ..k8s.kube import GPU_PROFILE, manifests, write_config

PLACEMENT = ("nodeSelector", "tolerations", "affinity")


def deployments(config_file: Path) -> list[dict[str, Any]]:
    config = load_config(config_file)

    async def build() -> list[dict[str, Any]]:
        async with ApiClient() as client:
            return wanted_deployments(load_catalog(config), config.settings.kubernetes, client.sanitize_for_serialization)

    return asyncio.run(build())


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    gpu = {**GPU_PROFILE, "id": "gpu-held", "placeholders": 3}
    return write_config(tmp_path, profiles=(gpu,), placeholders={"enabled": True})


def test_only_profiles_that_ask_for_placeholders_get_a_deployment_of_that_many(config_file):
    [made] = deployments(config_file)
    assert made["metadata"]["name"] == "placeholder-gpu-held"
    assert made["spec"]["replicas"] == 3
    assert set(made["spec"]["template"]) == {"metadata", "spec"}  # what a pod template may hold
    assert "name" not in made["spec"]["template"]["metadata"]


def test_a_placeholder_reserves_what_a_workspace_of_its_profile_reserves_where_it_may_run(config_file):
    [made] = deployments(config_file)
    pod, _ = manifests(config_file, {"image": "cuda", "profile": "gpu-held"})
    placeholder = made["spec"]["template"]["spec"]
    assert placeholder["containers"][0]["resources"] == pod["spec"]["containers"][0]["resources"]
    assert placeholder["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert {k: placeholder.get(k) for k in PLACEMENT} == {k: pod["spec"].get(k) for k in PLACEMENT}


def test_a_placeholder_is_a_pause_pod_that_pod_security_restricted_admits(config_file):
    [made] = deployments(config_file)
    spec = made["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["image"] == PAUSE_IMAGE == "registry.k8s.io/pause:3.10"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["automountServiceAccountToken"] is False


def test_placeholders_get_the_low_class_and_workspaces_the_high_one(config_file):
    [made] = deployments(config_file)
    pod, _ = manifests(config_file, {"image": "cuda", "profile": "gpu-held"})
    assert made["spec"]["template"]["spec"]["priorityClassName"] == "workspaces-placeholder"
    assert pod["spec"]["priorityClassName"] == "workspaces-default"


def test_without_placeholders_a_workspace_pod_names_no_priority_class(tmp_path):
    pod, _ = manifests(write_config(tmp_path), {"image": "cuda", "profile": "gpu-big"})
    assert "priorityClassName" not in pod["spec"]


def test_a_negative_count_of_placeholders_is_refused_with_the_profile_named(tmp_path):
    gpu = {**GPU_PROFILE, "id": "gpu-held", "placeholders": -1}
    with pytest.raises(ConfigError) as info:
        load_catalog(load_config(write_config(tmp_path, profiles=(gpu,))))
    assert "placeholders: must be >= 0 (entry 'gpu-held')" in str(info.value)


def test_a_priority_class_that_is_no_kubernetes_name_is_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, placeholders={"enabled": True, "priority_class": "Low_Priority"}))
    assert "kubernetes.placeholders.priority_class: 'Low_Priority' is not a DNS-1123 label" in str(info.value)


def test_the_capacity_hint_counts_the_room_placeholders_hold_as_free():
    from workspaces.capacity import READY, Need, kube_capacity
    from workspaces.catalog import Profile

    gpu = Profile(id="gpu-held", display_name="GPU", gpu={"count": 1})
    node = {"metadata": {"name": "gpu-1"}, "status": {"allocatable": {"nvidia.com/gpu": "4", "cpu": "8", "memory": "32Gi", "pods": "110"}}}

    def holding(priority: int) -> dict[str, Any]:
        container = {"resources": {"requests": {"nvidia.com/gpu": "1"}}}
        return {"spec": {"nodeName": "gpu-1", "priority": priority, "containers": [container]}, "status": {"phase": "Running"}}

    # a workspace preempts the placeholders (-10), never another workspace (0)
    placeholders = kube_capacity(Need.of(gpu), [node], [holding(-10)] * 4)
    assert (placeholders.state, placeholders.free) == (READY, 4)
    assert kube_capacity(Need.of(gpu), [node], [holding(0)] * 4).free == 0
