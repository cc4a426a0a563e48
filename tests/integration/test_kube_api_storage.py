"""Through the workspaces API on a Kubernetes hub: the size of a workspace's volume does not change.

The PVC is made at the first start and reused as it is at every later one, so
a spec update that asks for another size would be silently ignored; it is
refused instead, naming the field. A workspace whose volume was never made (its
first start was refused, e.g. by a storage quota, and it was made through the
hub's own API, which keeps a refused server) may still change the size.

Runs on the hub and real cluster of test_kube_hub.py (its fixtures), with a
user of its own.
"""

from __future__ import annotations

import pytest
import requests

from workspaces.naming import object_name

from ..support.hub import wait_for
from .test_kube_hub import claims, kube_cluster, kube_hub, module_hub, own_profile  # noqa: F401 (fixtures)

pytestmark = pytest.mark.hub

USER = "ray"


@pytest.fixture
def ray(kube_hub):  # noqa: F811
    """The hub, the cluster and a token of ray, who owns the profile namespace 'ray'."""
    hub, cluster = kube_hub
    own_profile(cluster, USER)
    return hub, cluster, hub.user_token(USER)


def create(hub, token: str, name: str, spec: dict, owner: str = USER) -> dict:
    r = hub.ws("POST", "/workspaces", token=token, json={"owner": owner, "name": name, "spec": spec})
    assert r.status_code == 201, r.text
    return r.json()


def update(hub, token: str, ws: dict, **changes) -> requests.Response:
    current = hub.ws("GET", f"/workspaces/{USER}/{ws['name']}", token=token).json()
    return hub.ws(
        "PATCH", f"/workspaces/{USER}/{ws['name']}", token=token,
        json={"spec": {**current["spec"], **changes}, "revision": current["revision"]},
    )


def test_a_new_size_for_an_existing_volume_is_refused_naming_the_field(ray):
    hub, _, token = ray
    ws = create(hub, token, "sized", {"image": "lab", "storage": "5Gi"})
    hub.wait_ready(USER, "sized")

    r = update(hub, token, ws, storage="20Gi")
    assert r.status_code == 400, r.text
    [field] = r.json()["error"]["fields"]
    assert field["path"] == "spec.storage"
    assert field["message"].startswith("the volume of an existing workspace keeps its size (5Gi)")


def test_an_update_that_keeps_the_size_is_accepted(ray):
    hub, _, token = ray
    ws = create(hub, token, "kept", {"image": "lab", "storage": "5Gi"})
    hub.wait_ready(USER, "kept")

    r = update(hub, token, ws, profile="medium", storage="5120Mi")  # the same size, written another way
    assert r.status_code == 200, r.text
    assert r.json()["restart_pending"] is True


def test_a_workspace_whose_volume_was_never_made_may_change_its_size(ray):
    hub, cluster, token = ray
    cluster.admin.apply("resourcequotas", {"metadata": {"name": "storage", "namespace": USER},
                                           "spec": {"hard": {"requests.storage": "20Gi"}}})
    wait_for(lambda: cluster.admin.get("resourcequotas", "storage", USER).get("status", {}).get("hard"), 30, "quota status")
    # The workspaces API removes a workspace its create could not start; the hub's own API keeps it.
    r = hub.api("POST", f"/users/{USER}/servers/quota", token=token, json={"image": "lab", "storage": "50Gi"})
    assert r.status_code == 403 and "quota cannot hold this workspace" in r.text, r.text
    hub.wait_stopped(USER, "quota")
    assert f"{USER}/{object_name(USER, 'quota')}" not in claims(cluster, USER)

    assert update(hub, token, {"name": "quota"}, storage="5Gi").status_code == 200
    r = hub.ws("POST", f"/workspaces/{USER}/quota/start", token=token)
    assert r.status_code == 200, r.text
    hub.wait_ready(USER, "quota")
    [claim] = [c for c in cluster.items("persistentvolumeclaims", USER) if c["metadata"]["name"] == object_name(USER, "quota")]
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_a_storage_budget_counts_the_volumes_of_stopped_workspaces_too(kube_hub):  # noqa: F811
    hub, cluster = kube_hub
    own_profile(cluster, "sol")  # the hub's config gives sol a storage budget of 8Gi
    token = hub.user_token("sol")
    create(hub, token, "first", {"image": "lab", "storage": "5Gi"}, owner="sol")
    hub.wait_ready("sol", "first")
    hub.ws("POST", "/workspaces/sol/first/stop", token=token)
    hub.wait_stopped("sol", "first")  # its volume stays, and so does its share of the budget

    r = hub.ws("POST", "/workspaces", token=token, json={"name": "second", "spec": {"image": "lab", "storage": "5Gi"}})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["message"] == "storage budget (user sol): 5Gi of 8Gi in use, 5Gi more asked"
    assert hub.ws("GET", "/workspaces/sol/second", token=token).status_code == 404
    assert not [c for c in claims(cluster, "sol") if c.endswith(object_name("sol", "second"))]
