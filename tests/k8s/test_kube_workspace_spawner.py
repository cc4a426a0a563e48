"""KubeWorkspaceSpawner: pods and PVCs from the spec, valid by the official schema; nothing is sent.

What the real cluster does with them: test_kube_lifecycle.py, test_kube_placement.py.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from spawner.kubernetes import LABEL_PREFIX, object_name, workspace_labels
from workspaces.naming import is_dns_label

from .kube import GPU_PROFILE, SCHEMA_VERSIONS, manifests, write_config


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("kube"), storage_class="fast")


GPU_SPEC = {"image": "cuda", "profile": "gpu-big", "storage": "20Gi"}


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_pod_and_pvc_are_valid_by_the_official_schema(config_file, version):
    pod, pvc = manifests(config_file, GPU_SPEC)
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    pvc.setdefault("apiVersion", "v1")
    pvc.setdefault("kind", "PersistentVolumeClaim")
    kubernetes_validate.validate(pod, version, strict=True)
    kubernetes_validate.validate(pvc, version, strict=True)


def test_the_pod_carries_image_resources_gpu_placement_and_shm(config_file):
    pod, _ = manifests(config_file, GPU_SPEC)
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    assert container["image"] == "quay.io/jupyter/pytorch-notebook:cuda12-2025-10-20"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["requests"]["cpu"] == 2.0 and container["resources"]["limits"]["cpu"] == 4.0
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    shm = next(v for v in pod["spec"]["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]


def test_the_pod_carries_the_profiles_affinity(config_file):
    pod, _ = manifests(config_file, GPU_SPEC)
    affinity = pod["spec"]["affinity"]
    assert affinity["nodeAffinity"] == GPU_PROFILE["affinity"]["nodeAffinity"]
    assert affinity["podAntiAffinity"] == GPU_PROFILE["affinity"]["podAntiAffinity"]
    assert "podAffinity" not in affinity


def test_a_profile_without_affinity_gives_the_pod_none(config_file):
    pod, _ = manifests(config_file, {"image": "lab", "profile": "small"})
    assert not pod["spec"].get("affinity")


def test_the_pvc_has_the_spec_size_class_and_labels(config_file):
    _, pvc = manifests(config_file, GPU_SPEC)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert pvc["spec"]["storageClassName"] == "fast"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspaces"


def test_every_object_carries_the_workspace_labels(config_file):
    pod, pvc = manifests(config_file, GPU_SPEC)
    expected = workspace_labels("alice@example.com", "train", "cuda", "gpu-big")
    for obj in (pod, pvc):
        assert expected.items() <= obj["metadata"]["labels"].items()
        for key, value in obj["metadata"]["labels"].items():
            assert len(value) <= 63 and re.fullmatch(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]?", value), (key, value)


def test_a_cpu_workspace_asks_for_no_gpu_and_uses_the_default_storage(config_file):
    pod, pvc = manifests(config_file, {"image": "lab", "profile": "small"})
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    assert "nvidia.com/gpu" not in (container["resources"].get("limits") or {})
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_data_volumes_mount_existing_claims(config_file):
    pod, _ = manifests(config_file, {"image": "lab", "volumes": [{"claim": "datasets", "mount_path": "/data", "read_only": True}]})
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "data-0")
    assert volume["persistentVolumeClaim"] == {"claimName": "datasets", "readOnly": True}


def test_the_server_in_the_pod_culls_itself_on_the_rule_that_matches(tmp_path):
    path = write_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["culling"] = {"default_timeout": "2h", "rules": [{"match": {"gpu": True}, "timeout": "30m"}]}
    path.write_text(yaml.safe_dump(config))
    pods = {spec["image"]: manifests(path, spec)[0] for spec in (GPU_SPEC, {"image": "lab", "profile": "small"})}
    commands = {image: next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")["args"]
                for image, pod in pods.items()}
    assert "--ServerApp.shutdown_no_activity_timeout=1800" in commands["cuda"]
    assert "--ServerApp.shutdown_no_activity_timeout=7200" in commands["lab"]
    assert "--MappingKernelManager.cull_busy=False" in commands["lab"]


TRICKY = ["alice", "Alice", "alice@example.com", "a-b", "a", "x" * 200, "ü", "a.b"]


def test_object_names_are_dns_labels_and_never_collide():
    names = {}
    for user, server in itertools.product(TRICKY, ["", "w", "W", "train-1", "y" * 100]):
        name = object_name(user, server)
        assert is_dns_label(name), name
        assert names.setdefault(name, (user, server)) == (user, server), f"{name} shared"


def test_the_server_in_the_pod_loads_the_keepalive_extension_where_the_image_has_it(tmp_path):
    # a stock image without this package logs the missing extension and runs as before
    path = write_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["culling"] = {"default_timeout": "2h", "warn_before": "10m"}
    path.write_text(yaml.safe_dump(config))
    pod, _ = manifests(path, {"image": "lab", "profile": "small"})
    args = next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")["args"]
    assert '--ServerApp.jpserver_extensions={"workspaces.keepalive_server": True}' in args
    assert "--WorkspacesKeepalive.warn_before=600" in args


def test_a_custom_image_runs_its_reference_with_an_entrys_defaults(tmp_path):
    config = write_config(tmp_path)
    catalog_file = tmp_path / yaml.safe_load(config.read_text())["catalog"]
    catalog = yaml.safe_load(catalog_file.read_text())
    catalog["custom_images"] = {"allow": ["registry.example.org/team/*"]}
    catalog_file.write_text(yaml.safe_dump(catalog))
    pod, _ = manifests(config, {"custom_image": "registry.example.org/team/lab:1"})
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    assert (container["image"], container["imagePullPolicy"]) == ("registry.example.org/team/lab:1", "IfNotPresent")
    # the security of a catalog entry that asks for nothing beyond "restricted"
    lab, _ = manifests(config, {"image": "lab"})
    [lab_container] = [c for c in lab["spec"]["containers"] if c["name"] == "notebook"]
    assert container["securityContext"] == lab_container["securityContext"]
    assert pod["spec"]["securityContext"] == lab["spec"]["securityContext"]
    assert pod["metadata"]["labels"][f"{LABEL_PREFIX}/image"] == "custom"
