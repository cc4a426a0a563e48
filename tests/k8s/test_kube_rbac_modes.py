"""Every mode works under the chart's own RBAC, on the real cluster.

For each mode the chart is rendered with the real Helm binary, and exactly
its ServiceAccount, Roles and bindings are applied; the spawner then speaks
as that ServiceAccount with a token from the TokenRequest API, as the hub's
pod does. Every workspace operation works, and a request outside the rules
is refused by the server and reported as a clear error.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from jupyterhub.spawner import SpawnException

from ..helm.chart import render
from ..support.cluster import Kube
from .conftest import RESTRICTED
from .kube import Kubeflow, make_spawner, run, start, unique, write_config

RBAC_KINDS = {"ServiceAccount": "serviceaccounts", "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings",
              "Role": "roles", "RoleBinding": "rolebindings"}
SPEC = {"image": "lab", "profile": "small"}


@dataclass
class Hub:
    """What the chart's hub would be: its identity and the workspaces.yaml the chart renders."""

    url: str
    identity: Kube
    settings: dict[str, Any]

    def kubeconfig(self) -> dict[str, Any]:
        return self.identity.kubeconfig()


def install_rbac(cluster, *values: str) -> Hub:
    """Apply the chart's RBAC for ``values`` in a fresh release namespace; the hub's identity and settings."""
    release = cluster.namespace("rel")
    objects = render("--namespace", release, *values)
    for obj in objects:
        if obj["kind"] in RBAC_KINDS:
            if not obj["kind"].startswith("Cluster"):
                namespace = obj["metadata"].setdefault("namespace", release)  # as helm install puts it
                if not cluster.admin.find("namespaces", namespace):
                    cluster.admin.namespace(namespace, RESTRICTED)
            cluster.admin.apply(RBAC_KINDS[obj["kind"]], obj)
    [account] = [o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"].endswith("-hub")]
    [config_map] = [o for o in objects if o["kind"] == "ConfigMap"]
    settings = yaml.safe_load(config_map["data"]["workspaces.yaml"])
    return Hub(cluster.url, cluster.admin.as_token(cluster.admin.request_token(release, account)), settings)


def config_of(hub: Hub, tmp_path: Path) -> Path:
    """The test catalog, with the kubernetes settings the chart rendered."""
    return write_config(tmp_path, **hub.settings["kubernetes"])


def tour(hub: Hub, config: Path, user: str) -> str:
    """Start, stop, start again, take over after a hub restart, stop, delete; the namespace used."""

    async def go() -> str:
        s = make_spawner(config, hub, user=user, server="tour")
        s.apply_spec(SPEC)
        await s.start()
        assert await s.poll() is None
        await s.stop()
        s.apply_spec(SPEC)
        await s.start()
        # the hub restarts: a new spawner from the saved state takes the running pod over
        again = make_spawner(config, hub, user=user, server="tour")
        again.load_state(s.get_state())
        assert await again.poll() is None
        assert await again.get_url()
        await again.stop()
        await again.delete_forever()
        return again.namespace

    return run(go)


def gone(cluster, namespace: str, user: str) -> bool:
    mine = [o for plural in ("pods", "persistentvolumeclaims") for o in cluster.items(plural, namespace)
            if o["metadata"]["name"].startswith(f"ws-{user}") and not o["metadata"].get("deletionTimestamp")]
    return not mine


def test_the_fixed_namespace_mode_works_with_its_namespaced_rules(cluster, tmp_path):
    workspaces = f"fixed-{uuid.uuid4().hex[:6]}"
    hub = install_rbac(cluster, "--set", f"workspaces.kubernetes.namespace={workspaces}")
    namespace = tour(hub, config_of(hub, tmp_path), "fay")
    assert namespace == workspaces and gone(cluster, namespace, "fay")


def test_the_namespace_template_mode_makes_each_users_namespace(cluster, tmp_path):
    prefix = f"tpl{uuid.uuid4().hex[:4]}"
    hub = install_rbac(cluster, "--set", f"workspaces.kubernetes.namespace_template={prefix}-{{username}}")
    namespace = tour(hub, config_of(hub, tmp_path), "tia")
    assert namespace == f"{prefix}-tia" and gone(cluster, namespace, "tia")


def test_the_kubeflow_mode_works_in_the_owners_profile_namespace(cluster, tmp_path):
    owner = f"{unique('kay')}@example.com"
    kubeflow = Kubeflow(cluster, RESTRICTED)
    try:
        profile = kubeflow.profile("kf", owner)
        hub = install_rbac(cluster, "-f", "helm/examples/kubeflow.yaml")
        assert tour(hub, config_of(hub, tmp_path), owner) == profile
    finally:
        kubeflow.remove()


def test_a_request_outside_the_rules_is_refused_by_the_server_and_reported_clearly(cluster, tmp_path):
    """The hub's config names a namespace its chart did not grant (workspaces.yaml edited, the chart not upgraded)."""
    hub = install_rbac(cluster, "--set", f"workspaces.kubernetes.namespace=granted-{uuid.uuid4().hex[:6]}")
    elsewhere = cluster.namespace("not-granted", RESTRICTED)
    config = write_config(tmp_path, **{**hub.settings["kubernetes"], "namespace": elsewhere})
    with pytest.raises(SpawnException) as info:
        run(lambda: start(config, hub, SPEC, user="rex", server="x"))
    assert info.value.status_code == 403
    message = info.value.jupyterhub_message
    assert "cannot create resource" in message and f'in the namespace "{elsewhere}"' in message
    assert cluster.items("pods", elsewhere) == [] and cluster.items("persistentvolumeclaims", elsewhere) == []


def test_a_namespace_the_rules_do_not_let_the_hub_create_is_refused_clearly(cluster, tmp_path):
    """The config asks for a namespace per user; the chart was installed for one fixed namespace."""
    hub = install_rbac(cluster, "--set", f"workspaces.kubernetes.namespace=granted-{uuid.uuid4().hex[:6]}")
    template = f"tpl{uuid.uuid4().hex[:4]}-{{username}}"
    config = write_config(tmp_path, namespace_template=template)
    with pytest.raises(SpawnException) as info:
        run(lambda: start(config, hub, SPEC, user="rex", server="x"))
    assert info.value.status_code == 403
    assert "the cluster refused the workspace's namespace" in info.value.jupyterhub_message
    assert 'cannot create resource "namespaces"' in info.value.jupyterhub_message
    assert not cluster.admin.find("namespaces", template.replace("{username}", "rex"))
