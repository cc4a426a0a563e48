"""The hub's RBAC rules in config/kubernetes/rbac.yaml are exactly what the backend uses."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import requests
import yaml

from ..support.hub import REPO
from ..support.k8s_apiserver import ApiServerThread
from ..support.kubeflow_objects import contributor, profile
from .kube import SCHEMA_VERSIONS, make_spawner, rules_of, run, write_config

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


def post(api, path: str, body: dict) -> None:
    assert requests.post(api.url + path, json=body, timeout=10).status_code == 201


def tour(tmp_path: Path) -> set[tuple[str, str, str]]:
    """Every feature once: Kubeflow with Istio, volumes and PodDefaults; a namespace template; a quota refusal."""
    with ApiServerThread() as api:
        post(api, "/apis/kubeflow.org/v1/profiles", profile("alice", "alice@example.com"))
        post(api, "/apis/rbac.authorization.k8s.io/v1/namespaces/alice/rolebindings", contributor("alice", "bob@example.com", "edit"))
        post(api, "/api/v1/namespaces/alice/persistentvolumeclaims", {
            "metadata": {"name": "datasets"},
            "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Gi"}}},
        })
        post(api, "/apis/kubeflow.org/v1alpha1/namespaces/alice/poddefaults", {
            "metadata": {"name": "s3"}, "spec": {"desc": "s3", "selector": {"matchLabels": {"s3": "true"}}},
        })
        api.store.requests.clear()
        kubeflow = write_config(tmp_path / "kf", kubeflow=True, istio=True)
        template = write_config(tmp_path / "tpl", namespace_template="ws-{username}")
        spec = {"image": "lab", "volumes": [{"claim": "datasets", "mount_path": "/data"}], "pod_defaults": ["s3"]}

        async def everything():
            s = make_spawner(kubeflow, api.url, user="alice@example.com", server="a")
            s.apply_spec(spec)
            await s.start()
            await s.poll()
            await s.stop()
            # after a hub restart, a quota refusal on the PVC: KubeSpawner then reads the existing one
            api.fault("POST", r"/persistentvolumeclaims$", status=403, times=1)
            again = make_spawner(kubeflow, api.url, user="alice@example.com", server="a")
            again.apply_spec(spec)
            await again.start()
            await again.stop()
            await again.delete_forever()
            t = make_spawner(template, api.url, user="carol", server="b")
            t.apply_spec({"image": "lab"})
            await t.start()

        run(everything)
        return {verb_of(m, p, q) for m, p, q in api.store.requests}


def test_the_rules_grant_every_request_the_backend_makes_and_nothing_more(tmp_path):
    used = tour(tmp_path)
    assert used - granted() == set(), "requests the rules do not allow"
    assert granted() - used == set(), "rules nothing uses"


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_the_rbac_manifests_are_valid(version):
    for document in yaml.safe_load_all(RBAC.read_text()):
        kubernetes_validate.validate(document, version, strict=True)
