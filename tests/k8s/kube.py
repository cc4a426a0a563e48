"""Driving KubeWorkspaceSpawner outside a hub, on the test cluster (or the fault-injecting stand-in), and what it writes."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import kubernetes_validate
import yaml
from jupyterhub.objects import Hub, Server
from traitlets.config import Config

from ..support.hub import DATA

SCHEMA_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
T = TypeVar("T")

GPU_PROFILE = {
    "id": "gpu-big",
    "display_name": "GPU big",
    "cpu": {"guarantee": 2, "limit": 4},
    "memory": {"guarantee": "8Gi", "limit": "16Gi"},
    "gpu": {"count": 2, "resource": "nvidia.com/gpu"},
    "shm_size": "4Gi",
    "node_selector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu.model", "operator": "In", "values": ["h100", "a100"]}]}]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}
            ],
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                 "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "workspace"}}}}
            ]
        },
    },
}


def write_config(root: Path, images: tuple[dict[str, Any], ...] = (), profiles: tuple[dict[str, Any], ...] = (),
                 **kubernetes: Any) -> Path:
    """A workspaces.yaml with the test catalog (and ``images``), a GPU profile (and ``profiles``) and these kubernetes settings."""
    root.mkdir(parents=True, exist_ok=True)
    listed = yaml.safe_load((DATA / "profiles.yaml").read_text())
    listed["profiles"] += [GPU_PROFILE, *profiles]
    (root / "profiles.yaml").write_text(yaml.safe_dump(listed))
    suffix = uuid.uuid4().hex[:6]
    catalog = yaml.safe_load((DATA / "catalog.yaml").read_text())
    catalog["images"] += images
    (root / f"catalog-{suffix}.yaml").write_text(yaml.safe_dump(catalog))
    kubernetes.setdefault("namespace", f"ws-{uuid.uuid4().hex[:6]}")
    path = root / f"workspaces-{suffix}.yaml"
    path.write_text(yaml.safe_dump({"catalog": f"catalog-{suffix}.yaml", "profiles": "profiles.yaml", "kubernetes": kubernetes}))
    return path


def use_cluster(api: Any) -> None:
    """Make the spawners made next speak to ``api`` with the identity it gives.

    KubeSpawner loads $KUBECONFIG into the client's global configuration,
    once per API host (``load_config`` is cached); so the file gets the
    identity of ``api`` (the hub's ServiceAccount on the test cluster) and the
    cache is cleared.
    """
    from kubespawner.clients import load_config

    Path(os.environ["KUBECONFIG"]).write_text(yaml.safe_dump(api.kubeconfig()))
    load_config.cache_clear()


def make_spawner(
    config_file: Path,
    api: Any,
    user: str = "alice@example.com",
    server: str = "train",
    groups: tuple[str, ...] = (),
    **traits: Any,
):
    """A KubeWorkspaceSpawner as the hub would make it (call inside a running event loop).

    ``api``: the test cluster or the stand-in (anything with ``url`` and
    ``kubeconfig()``), or a bare URL where nothing is requested.
    """
    from spawner.kubernetes import KubeWorkspaceSpawner

    if isinstance(api, str):
        api_url = api
    else:
        use_cluster(api)
        api_url = api.url
    config = Config()
    config.KubeWorkspaceSpawner.workspaces_config = str(config_file)
    config.KubeWorkspaceSpawner.k8s_api_host = api_url
    config.KubeWorkspaceSpawner.start_timeout = 20
    config.KubeWorkspaceSpawner.k8s_api_request_retry_timeout = 10
    for name, value in traits.items():
        setattr(config.KubeWorkspaceSpawner, name, value)
    member_of = [SimpleNamespace(name=g) for g in groups]
    owner = SimpleNamespace(name=user, id=1, url=f"/user/{user}/", server=Server(), escaped_name=user, groups=member_of,
                            # no other server of the user: the budget check (spawner.base) counts none
                            orm_user=SimpleNamespace(orm_spawners={}), spawners={})
    # the server's database row, as the hub would pass it (the name comes from there)
    row = SimpleNamespace(name=server, user_options={}, state=None, server=None)
    return KubeWorkspaceSpawner(
        hub=Hub(), user=owner, orm_spawner=row, config=config, api_token="t", oauth_client_id="c", _mock=False
    )


def run(body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` on a fresh event loop; the spawners' shared watches are stopped after."""

    async def go() -> T:
        from spawner.kubernetes import KubeWorkspaceSpawner

        try:
            return await body()
        finally:
            await KubeWorkspaceSpawner._stop_all_reflectors()

    return asyncio.run(go())


def workspace_objects(config_file: Path, spec: dict[str, Any], **kwargs: Any) -> dict[str, dict]:
    """The pod, PVC and Service a workspace with ``spec`` would get, as the JSON sent to the API server."""

    async def go():
        from kubernetes_asyncio.client import ApiClient
        from kubespawner.objects import make_owner_reference

        s = make_spawner(config_file, "http://127.0.0.1:1", **kwargs)
        s.apply_spec(spec)
        made = {
            "pods": await s.get_pod_manifest(),
            "persistentvolumeclaims": s.get_pvc_manifest(),
            # owned by its pod; the uid is the pod's once it exists
            "services": s.get_service_manifest(make_owner_reference(s.pod_name, str(uuid.uuid4())), s.port),
        }
        async with ApiClient() as client:
            return {kind: client.sanitize_for_serialization(obj) for kind, obj in made.items()}

    return asyncio.run(go())


def manifests(config_file: Path, spec: dict[str, Any], **kwargs: Any) -> tuple[dict, dict]:
    """The pod and PVC a workspace with ``spec`` would get, as the JSON sent to the API server."""
    objects = workspace_objects(config_file, spec, **kwargs)
    return objects["pods"], objects["persistentvolumeclaims"]


async def start(config_file: Path, api_url: str, spec: dict[str, Any], **kwargs: Any):
    """Start a workspace; returns its spawner."""
    s = make_spawner(config_file, api_url, **kwargs)
    s.apply_spec(spec)
    await s.start()
    return s


def hardened_pod(name: str, image: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A pod of one container named like a workspace's, that Pod Security "restricted" admits, as the admin makes it."""
    context = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
               "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "notebook", "image": image, "securityContext": context}], **spec},
    }


def rules_of(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples a Role or ClusterRole grants."""
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


class Kubeflow:
    """Profiles and contributors on the test cluster, as Kubeflow's profile controller and KFAM make them.

    The cluster is shared by the session, so every profile gets a unique
    name; ``remove`` deletes what was made (a profile's namespace takes its
    bindings with it).
    """

    def __init__(self, cluster: Any, labels: dict[str, str] | None = None):
        self.cluster = cluster
        self.labels = labels  # of each profile namespace
        self.made: list[tuple[str, str, str | None]] = []

    def profile(self, prefix: str, owner: str) -> str:
        """A Profile owned by ``owner`` and its namespace; the name (``prefix`` and a unique suffix)."""
        from ..support.kubeflow_objects import profile

        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.cluster.admin.create("profiles", profile(name, owner))
        self.made.append(("profiles", name, None))
        self.cluster.admin.namespace(name, self.labels)  # what the profile controller makes
        self.made.append(("namespaces", name, None))
        return name

    def contributor(self, namespace: str, user: str, role: str) -> None:
        """``user`` may work in ``namespace`` as ``role`` (edit, view or admin), as KFAM records it."""
        from ..support.kubeflow_objects import contributor

        binding = contributor(namespace, user, role)
        self.cluster.admin.create("rolebindings", binding)
        self.made.append(("rolebindings", binding["metadata"]["name"], namespace))

    def remove(self) -> None:
        for plural, name, namespace in reversed(self.made):
            self.cluster.admin.delete(plural, name, namespace)
        self.made.clear()


def unique(name: str) -> str:
    """``name`` with a suffix no other test in the session has."""
    return f"{name}{uuid.uuid4().hex[:6]}"
