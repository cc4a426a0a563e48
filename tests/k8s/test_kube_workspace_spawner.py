"""KubeWorkspaceSpawner: pods and PVCs from the spec, valid by the official schema, on the stand-in."""

from __future__ import annotations

import itertools
import re
import uuid
from pathlib import Path

import kubernetes_validate
import pytest
import requests

from spawner.kubernetes import object_name, workspace_labels

from ..support.k8s_apiserver import ApiServerThread
from ..support.kubeflow_objects import contributor, profile
from .kube import DNS_LABEL, GPU_PROFILE, SCHEMA_VERSIONS, assert_valid_objects, manifests, run, start, write_config


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


TRICKY = ["alice", "Alice", "alice@example.com", "a-b", "a", "x" * 200, "ü", "a.b"]


def test_object_names_are_dns_labels_and_never_collide():
    names = {}
    for user, server in itertools.product(TRICKY, ["", "w", "W", "train-1", "y" * 100]):
        name = object_name(user, server)
        assert DNS_LABEL.match(name), name
        assert names.setdefault(name, (user, server)) == (user, server), f"{name} shared"


def test_start_creates_pvc_then_pod_stop_keeps_the_pvc_delete_removes_it(config_file):
    with ApiServerThread() as api:

        async def lifecycle():
            s = await start(config_file, api.url, {"image": "lab", "profile": "small"}, user="bob", server="exp")
            assert await s.poll() is None
            await s.stop()
            pvcs = api.store.items("persistentvolumeclaims", s.namespace)
            await s.delete_forever()
            return s.namespace, pvcs

        namespace, pvcs_after_stop = run(lifecycle)
        assert [p["metadata"]["name"] for p in pvcs_after_stop] == [object_name("bob", "exp")]
        assert api.store.items("persistentvolumeclaims", namespace) == []
        created = [p for m, p, _ in api.store.requests if m == "POST"]
        assert created.index(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims") < created.index(
            f"/api/v1/namespaces/{namespace}/pods"
        )


def test_a_second_start_reuses_the_pvc(config_file):
    with ApiServerThread() as api:

        async def twice():
            s = await start(config_file, api.url, {"image": "lab"}, user="bob", server="again")
            uid = api.store.items("persistentvolumeclaims", s.namespace)[0]["metadata"]["uid"]
            await s.stop()
            s.apply_spec({"image": "lab"})
            await s.start()
            return uid, api.store.items("persistentvolumeclaims", s.namespace)

        uid, claims = run(twice)
        assert [c["metadata"]["uid"] for c in claims] == [uid]


def test_everything_written_on_start_is_valid_by_the_official_schema(config_file):
    with ApiServerThread() as api:
        run(lambda: start(config_file, api.url, {"image": "cuda", "profile": "gpu-big", "storage": "20Gi"}))
        assert assert_valid_objects(api) == 2  # the pod and its PVC


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


@pytest.fixture(scope="module")
def kubeflow_config(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("kubeflow"), kubeflow=True)


def start_in(api_url: str, config: Path, user: str, spec: dict) -> str:
    """Start a workspace; returns the namespace of its pod."""

    async def go():
        return (await start(config, api_url, spec, user=user, server=f"w{uuid.uuid4().hex[:4]}")).namespace

    return run(go)


def test_kubeflow_workspaces_go_to_the_owners_profile_namespace(kubeflow_config, kubeflow_cluster):
    namespace = start_in(kubeflow_cluster.url, kubeflow_config, "alice@example.com", {"image": "lab"})
    assert namespace == "alice"
    assert [p["metadata"]["namespace"] for p in kubeflow_cluster.store.items("pods", None)] == ["alice"]


def test_the_chosen_namespace_is_recorded_in_the_spec(kubeflow_config, kubeflow_cluster):
    async def go():
        s = await start(kubeflow_config, kubeflow_cluster.url, {"image": "lab"}, user="alice@example.com", server="rec")
        return s.user_options, s.orm_spawner.user_options

    options, stored = run(go)
    assert options["namespace"] == stored["namespace"] == "alice"


def test_kubeflow_workspaces_may_go_to_a_contributor_namespace(kubeflow_config, kubeflow_cluster):
    spec = {"image": "lab", "namespace": "team-ml"}
    assert start_in(kubeflow_cluster.url, kubeflow_config, "alice@example.com", spec) == "team-ml"


def test_a_namespace_the_user_may_not_use_is_refused_before_anything_is_created(kubeflow_config, kubeflow_cluster):
    from tornado import web

    with pytest.raises(web.HTTPError) as info:
        start_in(kubeflow_cluster.url, kubeflow_config, "alice@example.com", {"image": "lab", "namespace": "team-ro"})
    assert info.value.status_code == 403
    assert "namespace 'team-ro' is not one you may use; allowed: alice, team-ml" in info.value.log_message
    assert not [p for m, p, _ in kubeflow_cluster.store.requests if m in ("POST", "PUT", "PATCH", "DELETE") and not p.startswith("/apis/")]


def test_kubeflow_profile_namespaces_are_never_created_or_deleted(kubeflow_config, kubeflow_cluster):
    start_in(kubeflow_cluster.url, kubeflow_config, "alice@example.com", {"image": "lab"})
    assert not [(m, p) for m, p, _ in kubeflow_cluster.store.requests if "/namespaces" in p and p.count("/") <= 4 and m != "GET"]
