"""The hub's RBAC rules in config/kubernetes/rbac.yaml are exactly what the backend uses.

The tour runs on the real cluster as the hub's ServiceAccount, which holds
exactly those rules; what it asked for is read from the API server's audit
log, so a request the rules refuse or never need shows, whatever the
backend's client does.
"""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from spawner.kubernetes import object_name

from ..support.cluster import wait_until
from ..support.hub import REPO
from .conftest import RESTRICTED
from .kube import SCHEMA_VERSIONS, Kubeflow, make_spawner, rules_of, run, unique, write_config

RBAC = REPO / "config" / "kubernetes" / "rbac.yaml"
PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?$"
)


def verb_of(method: str, path: str, query: str) -> tuple[str, str, str]:
    """(apiGroup, resource, verb) of one request, as the API server's authorizer sees it."""
    m = PATH.match(path)
    assert m, path
    group, resource, name = m["group"] or "", m["resource"], m["name"]
    if method == "GET":
        verb = "get" if name else ("watch" if "watch=" in query.lower() else "list")
    else:
        verb = {"POST": "create", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}[method]
    return group, resource, verb


def granted() -> set[tuple[str, str, str]]:
    role = next(d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "ClusterRole")
    return rules_of(role)


def full_quota_of_claims(cluster, namespace: str) -> None:
    """A ResourceQuota that the claims already there fill: the next claim's create is refused with 403."""
    count = str(len(cluster.items("persistentvolumeclaims", namespace)))
    cluster.admin.create("resourcequotas", {"metadata": {"name": "claims"}, "spec": {"hard": {"persistentvolumeclaims": count}}},
                         namespace)
    wait_until(lambda: cluster.admin.get("resourcequotas", "claims", namespace).get("status", {}).get("used"), 30,
               "the quota's usage")


def tour(cluster, tmp_path: Path) -> set[tuple[str, str, str]]:
    """Every feature once: Kubeflow with Istio, volumes and PodDefaults, a Service left from before; a namespace
    template; a quota refusal. The (apiGroup, resource, verb) of each request the hub's ServiceAccount made."""
    kubeflow = Kubeflow(cluster, RESTRICTED)
    owner = f"{unique('alice')}@example.com"
    carol = unique("carol")
    template = f"{unique('tpl')}-{{username}}"
    try:
        profile = kubeflow.profile("alice", owner)
        kubeflow.contributor(profile, "bob@example.com", "edit")
        cluster.admin.create("persistentvolumeclaims", {
            "metadata": {"name": "datasets"},
            "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Gi"}}},
        }, profile)
        cluster.admin.create("poddefaults", {
            "apiVersion": "kubeflow.org/v1alpha1", "kind": "PodDefault",
            "metadata": {"name": "s3"}, "spec": {"desc": "s3", "selector": {"matchLabels": {"s3": "true"}}},
        }, profile)
        # The garbage collector removes a workspace's Service with its pod, but not one left behind (its pod
        # deleted with --cascade=orphan, or the collector not there yet right after a stop): the start replaces it.
        cluster.admin.create("services", {
            "metadata": {"name": object_name(owner, "a")}, "spec": {"ports": [{"name": "notebook-port", "port": 8888}]},
        }, profile)
        kubeflow_config = write_config(tmp_path / "kf", kubeflow=True, istio=True)
        template_config = write_config(tmp_path / "tpl", namespace_template=template)
        spec = {"image": "lab", "volumes": [{"claim": "datasets", "mount_path": "/data"}], "pod_defaults": ["s3"]}
        mark = cluster.audit_mark()

        async def everything():
            s = make_spawner(kubeflow_config, cluster, user=owner, server="a")
            s.apply_spec(spec)
            await s.start()
            await s.poll()
            await s.stop()
            # after a hub restart, a quota refusal on the PVC: KubeSpawner then reads the existing one
            full_quota_of_claims(cluster, profile)
            again = make_spawner(kubeflow_config, cluster, user=owner, server="a")
            again.apply_spec(spec)
            await again.start()
            await again.stop()
            await again.delete_forever()
            t = make_spawner(template_config, cluster, user=carol, server="b")
            t.apply_spec({"image": "lab"})
            await t.start()

        run(everything)
        return {verb_of(m, p, q) for m, p, q in cluster.requests(since=mark)}
    finally:
        kubeflow.remove()
        cluster.delete_namespace(template.format(username=carol))


def test_the_rules_grant_every_request_the_backend_makes_and_nothing_more(cluster, tmp_path):
    used = tour(cluster, tmp_path)
    assert used - granted() == set(), "requests the rules do not allow"
    assert granted() - used == set(), "rules nothing uses"


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_the_rbac_manifests_are_valid(version):
    for document in yaml.safe_load_all(RBAC.read_text()):
        kubernetes_validate.validate(document, version, strict=True)
