"""KubeWorkspaceSpawner: pods and PVCs from the spec, valid by the official schema, on the stand-in."""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from pathlib import Path
from types import SimpleNamespace

import kubernetes_validate
import pytest
import requests
import yaml
from jupyterhub.objects import Hub, Server
from traitlets.config import Config

from spawner.kubernetes import object_name, workspace_labels

from ..support.hub import DATA
from ..support.k8s_apiserver import ApiServerThread
from ..support.kubeflow_objects import contributor, profile

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SCHEMA_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kube")
    profiles = yaml.safe_load((DATA / "profiles.yaml").read_text())
    profiles["profiles"].append(
        {
            "id": "gpu-big",
            "display_name": "GPU big",
            "cpu": {"guarantee": 2, "limit": 4},
            "memory": {"guarantee": "8Gi", "limit": "16Gi"},
            "gpu": {"count": 2, "resource": "nvidia.com/gpu"},
            "shm_size": "4Gi",
            "node_selector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        }
    )
    (root / "profiles.yaml").write_text(yaml.safe_dump(profiles))
    path = root / "workspaces.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "catalog": str(DATA / "catalog.yaml"),
                "profiles": "profiles.yaml",
                "kubernetes": {"namespace": f"ws-{uuid.uuid4().hex[:6]}", "storage_class": "fast"},
            }
        )
    )
    return path


def make_spawner(config_file: Path, api_url: str, user: str = "alice@example.com", server: str = "train"):
    from spawner.kubernetes import KubeWorkspaceSpawner

    config = Config()
    config.KubeWorkspaceSpawner.workspaces_config = str(config_file)
    config.KubeWorkspaceSpawner.k8s_api_host = api_url
    config.KubeWorkspaceSpawner.start_timeout = 20
    owner = SimpleNamespace(name=user, id=1, url=f"/user/{user}/", server=Server(), escaped_name=user, groups=[])
    # the server's database row, as the hub would pass it (the name comes from there)
    row = SimpleNamespace(name=server, user_options={}, state=None, server=None)
    return KubeWorkspaceSpawner(
        hub=Hub(), user=owner, orm_spawner=row, config=config, api_token="t", oauth_client_id="c", _mock=False
    )


def manifests(config_file: Path, spec: dict) -> tuple[dict, dict]:
    async def go():
        from kubernetes_asyncio.client import ApiClient

        s = make_spawner(config_file, "http://127.0.0.1:1")
        s.apply_spec(spec)
        pod = await s.get_pod_manifest()
        pvc = s.get_pvc_manifest()
        async with ApiClient() as client:
            return client.sanitize_for_serialization(pod), client.sanitize_for_serialization(pvc)

    return asyncio.run(go())


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


TRICKY = ["alice", "Alice", "alice@example.com", "a-b", "a", "x" * 200, "ü", "a.b"]


def test_object_names_are_dns_labels_and_never_collide():
    names = {}
    for user, server in itertools.product(TRICKY, ["", "w", "W", "train-1", "y" * 100]):
        name = object_name(user, server)
        assert DNS_LABEL.match(name), name
        assert names.setdefault(name, (user, server)) == (user, server), f"{name} shared"


def test_start_creates_pvc_then_pod_stop_keeps_the_pvc_delete_removes_it(config_file):
    from kubespawner import KubeSpawner

    with ApiServerThread() as api:

        async def go():
            s = make_spawner(config_file, api.url, user="bob", server="exp")
            try:
                s.apply_spec({"image": "lab", "profile": "small"})
                await s.start()
                assert await s.poll() is None
                await s.stop()
                pvcs = api.store.items("persistentvolumeclaims", s.namespace)
                await s.delete_forever()
                return s.namespace, pvcs
            finally:
                await KubeSpawner._stop_all_reflectors()

        namespace, pvcs_after_stop = asyncio.run(go())
        assert [p["metadata"]["name"] for p in pvcs_after_stop] == [object_name("bob", "exp")]
        assert api.store.items("persistentvolumeclaims", namespace) == []
        posts = [p for m, p, _ in api.store.requests if m == "POST"]
        assert posts.index(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims") < posts.index(
            f"/api/v1/namespaces/{namespace}/pods"
        )


def kubeflow_config(config_file: Path) -> Path:
    config = yaml.safe_load(config_file.read_text())
    config["kubernetes"] = {"kubeflow": True}
    path = config_file.with_name("kubeflow.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


def start_in(api_url: str, config: Path, user: str, spec: dict) -> str:
    """Start a workspace; returns the namespace of its pod. Reflectors stopped after."""
    from kubespawner import KubeSpawner

    async def go():
        s = make_spawner(config, api_url, user=user, server=f"w{uuid.uuid4().hex[:4]}")
        try:
            s.apply_spec(spec)
            await s.start()
            return s.namespace
        finally:
            await KubeSpawner._stop_all_reflectors()

    return asyncio.run(go())


@pytest.fixture
def kubeflow_cluster():
    with ApiServerThread() as api:
        for path, body in (
            ("/apis/kubeflow.org/v1/profiles", profile("alice", "alice@example.com")),
            ("/apis/kubeflow.org/v1/profiles", profile("team-ml", "carol@example.com")),
            ("/apis/kubeflow.org/v1/profiles", profile("team-ro", "carol@example.com")),
            ("/apis/rbac.authorization.k8s.io/v1/namespaces/team-ml/rolebindings", contributor("team-ml", "alice@example.com", "edit")),
            ("/apis/rbac.authorization.k8s.io/v1/namespaces/team-ro/rolebindings", contributor("team-ro", "alice@example.com", "view")),
        ):
            assert requests.post(api.url + path, json=body, timeout=10).status_code == 201
        yield api


def test_kubeflow_workspaces_go_to_the_owners_profile_namespace(config_file, kubeflow_cluster):
    namespace = start_in(kubeflow_cluster.url, kubeflow_config(config_file), "alice@example.com", {"image": "lab"})
    assert namespace == "alice"
    assert [p["metadata"]["namespace"] for p in kubeflow_cluster.store.items("pods", None)] == ["alice"]


def test_kubeflow_workspaces_may_go_to_a_contributor_namespace(config_file, kubeflow_cluster):
    spec = {"image": "lab", "namespace": "team-ml"}
    assert start_in(kubeflow_cluster.url, kubeflow_config(config_file), "alice@example.com", spec) == "team-ml"


def test_a_namespace_the_user_may_not_use_is_refused_before_anything_is_created(config_file, kubeflow_cluster):
    from tornado import web

    with pytest.raises(web.HTTPError) as info:
        start_in(kubeflow_cluster.url, kubeflow_config(config_file), "alice@example.com", {"image": "lab", "namespace": "team-ro"})
    assert info.value.status_code == 403
    assert "namespace 'team-ro' is not one you may use; allowed: alice, team-ml" in info.value.log_message
    assert not [p for m, p, _ in kubeflow_cluster.store.requests if m == "POST" and not p.startswith("/apis/")]
