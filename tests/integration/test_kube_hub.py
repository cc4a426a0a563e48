"""A real hub with the kubernetes backend, on the real control plane, whose kubelet runs real servers.

The hub, the proxy, every jupyter server, the API server, scheduler and
controller manager are real; only the nodes are simulated, and their pods
run as local processes on 127.0.0.N. The hub speaks as its ServiceAccount
with the rules of config/kubernetes/rbac.yaml. Kubeflow mode: each user owns a
profile namespace named after them, which enforces Pod Security restricted.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import requests
import yaml
from playwright.sync_api import Browser, expect

from spawner.kubernetes import object_name

from ..support.browser import log_in
from ..support.cluster_fixture import Cluster
from ..support.hub import Hub, wait_for
from ..support.kubeflow_objects import profile

pytestmark = pytest.mark.hub

USERS = ("kim", "lee", "max", "ned", "oda", "pia", "quo", "ria")  # one per test: each owns a profile namespace named after them
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


def own_profile(cluster: Cluster, user: str) -> None:
    """A Kubeflow profile of ``user``, and its namespace as the profile controller makes it."""
    cluster.admin.apply("profiles", profile(user, user))
    cluster.admin.namespace(user, RESTRICTED)


@pytest.fixture(scope="module")
def kube_cluster(cluster: Cluster) -> Iterator[Cluster]:
    """The session's cluster, its kubelet running pods as processes while this module runs."""
    for user in USERS:
        own_profile(cluster, user)
    cluster.kubelet.mode = "process"
    try:
        yield cluster
    finally:
        cluster.kubelet.mode = "status"


@pytest.fixture(scope="module")
def module_hub(tmp_path_factory: pytest.TempPathFactory, kube_cluster: Cluster) -> Iterator[tuple[Hub, Cluster]]:
    """One hub for the module (tests use different users); tests that kill it start it again."""
    root = tmp_path_factory.mktemp("kube-hub")
    kubeconfig = kube_cluster.hub().write_kubeconfig(root / "kubeconfig")
    hub = Hub(
        root,
        # a storage budget for sol alone (test_kube_api_storage.py); everyone else has none
        settings={"backend": "kubernetes", "kubernetes": {"kubeflow": True}, "quotas": {"users": {"sol": {"storage": "8Gi"}}}},
        env={"KUBECONFIG": str(kubeconfig)},
        extra_config="c.KubeWorkspaceSpawner.unschedulable_grace = 1\n",
    )
    try:
        yield hub.start(), kube_cluster
    finally:
        hub.shutdown()


@pytest.fixture
def kube_hub(module_hub) -> Iterator[tuple[Hub, Cluster]]:
    """The module's hub, with the kubelet back to running pods at its usual pace after each test."""
    hub, cluster = module_hub
    try:
        yield hub, cluster
    finally:
        cluster.kubelet.scenario = lambda pod: "run"
        cluster.kubelet.delay = 0.05


def live(cluster: Cluster, plural: str, user: str) -> list[dict]:
    return [o for o in cluster.items(plural, user) if not o["metadata"].get("deletionTimestamp")]


def pods(cluster: Cluster, user: str) -> list[str]:
    """The pods in ``user``'s profile namespace, as namespace/name (Terminating ones are on their way out)."""
    return [f"{user}/{p['metadata']['name']}" for p in live(cluster, "pods", user)]


def claims(cluster: Cluster, user: str) -> list[str]:
    return [f"{user}/{p['metadata']['name']}" for p in live(cluster, "persistentvolumeclaims", user)]


def test_a_workspace_is_created_reached_stopped_started_and_deleted(kube_hub):
    hub, cluster = kube_hub
    token = hub.user_token("kim")
    name = "kim/" + object_name("kim", "exp")

    hub.start_workspace("kim", "exp", {"image": "lab", "profile": "small", "storage": "5Gi"})
    assert pods(cluster, "kim") == [name] and claims(cluster, "kim") == [name]
    r = hub.get("/user/kim/exp/api/status", token=token)
    assert r.status_code == 200, r.text
    # a file in the workspace's storage
    r = hub.get("/user/kim/exp/api/contents", token=token)
    assert r.status_code == 200
    put = requests.put(
        f"{hub.url}/user/kim/exp/api/contents/notes.txt",
        headers={"Authorization": f"token {token}"},
        json={"type": "file", "format": "text", "content": "keep me"},
        timeout=30,
    )
    assert put.status_code in (200, 201), put.text

    assert hub.api("DELETE", "/users/kim/servers/exp", token=token).status_code in (202, 204)
    hub.wait_stopped("kim", "exp")
    wait_for(lambda: pods(cluster, "kim") == [], 30, "the pod to go")
    assert claims(cluster, "kim") == [name]  # stop keeps storage

    assert hub.api("POST", "/users/kim/servers/exp", token=token, json={}).status_code in (201, 202)
    hub.wait_ready("kim", "exp")
    r = hub.get("/user/kim/exp/api/contents/notes.txt", token=token)
    assert r.status_code == 200 and r.json()["content"] == "keep me"

    r = hub.api("DELETE", "/users/kim/servers/exp", token=token, json={"remove": True})
    assert r.status_code in (202, 204)
    hub.wait_removed("kim", "exp")
    wait_for(lambda: pods(cluster, "kim") == [] and claims(cluster, "kim") == [], 30, "the pod and the PVC to go")


def test_the_api_lists_the_profile_namespaces_a_user_may_use(kube_hub):
    hub, _ = kube_hub
    r = hub.ws("GET", "/namespaces", token=hub.user_token("kim"))
    assert r.status_code == 200, r.text
    assert r.json() == {"backend": "kubernetes", "items": [{"name": "kim", "role": "owner", "quotas": []}]}


def test_the_api_shows_each_namespaces_quotas(kube_hub):
    hub, cluster = kube_hub
    cluster.admin.create("resourcequotas", {"metadata": {"name": "team-budget"}, "spec": {"hard": {"pods": "10"}}}, "quo")
    wait_for(lambda: cluster.admin.get("resourcequotas", "team-budget", "quo").get("status", {}).get("used"), 30,
             "the quota's usage")
    r = hub.ws("GET", "/namespaces", token=hub.user_token("quo"))
    assert r.json()["items"] == [{"name": "quo", "role": "owner", "quotas": ["team-budget: pods 0 of 10 used"]}]


def test_the_api_shows_the_namespace_a_workspace_runs_in(kube_hub):
    hub, _ = kube_hub
    token = hub.user_token("oda")
    r = hub.ws("POST", "/workspaces", token=token, json={"name": "ns", "spec": {"image": "lab"}})
    assert r.status_code == 201, r.text
    hub.wait_ready("oda", "ns")
    assert hub.ws("GET", "/workspaces/oda/ns", token=token).json()["namespace"] == "oda"


def test_a_start_the_cluster_cannot_schedule_fails_with_the_reason(kube_hub):
    hub, cluster = kube_hub
    # gpu-1 asks for a GPU without tolerating the GPU node's taint: the scheduler finds no node
    token = hub.user_token("lee")
    r = hub.api("POST", "/users/lee/servers/big", token=token, json={"image": "cuda", "profile": "gpu-1"})
    if r.status_code == 202:  # slower than the hub's slow_spawn_timeout: read the progress stream
        hub.wait_stopped("lee", "big")
        r = hub.api("GET", "/users/lee/servers/big/progress", token=token)
        assert "Insufficient nvidia.com/gpu" in r.text
    else:
        assert r.status_code == 503, r.text
        assert "no node can run this workspace" in r.json()["message"]
        assert "Insufficient nvidia.com/gpu" in r.json()["message"]
    hub.wait_stopped("lee", "big")
    assert pods(cluster, "lee") == []
    assert claims(cluster, "lee") == ["lee/" + object_name("lee", "big")]


def test_the_forms_say_before_a_start_what_the_cluster_can_hold(kube_hub):
    hub, _ = kube_hub
    # as above: gpu-1 does not tolerate the GPU node's taint, and the CPU nodes have no GPU
    reason = "no node of this cluster has 1 nvidia.com/gpu"
    capacity = {p["id"]: p["capacity"] for p in hub.ws("GET", "/profiles", token=hub.user_token("kim")).json()["items"]}
    assert capacity["gpu-1"] == {"state": "never", "available": False, "message": reason, "free": 0, "total": 0}
    assert capacity["small"]["state"] == "ready"
    assert f"Unavailable: {reason}" in hub.spawn_form("kim", "x")


def test_a_running_workspace_is_found_again_after_the_hub_is_killed(kube_hub):
    hub, cluster = kube_hub
    token = hub.user_token("max")
    hub.start_workspace("max", "job", {"image": "lab"})
    [pod] = cluster.items("pods", "max")

    hub.stop(sig=signal.SIGKILL)
    hub.start()

    assert hub.server("max", "job")["ready"]
    assert hub.get("/user/max/job/api/status", token=token).status_code == 200
    assert [p["metadata"]["uid"] for p in cluster.items("pods", "max")] == [pod["metadata"]["uid"]]


def test_a_hub_killed_mid_spawn_leaves_no_orphan_and_nothing_pending(kube_hub):
    hub, cluster = kube_hub
    token = hub.user_token("ned")
    cluster.kubelet.delay = 3  # the pod exists for a while before it runs
    r = hub.api("POST", "/users/ned/servers/mid", token=token, json={"image": "lab"})
    assert r.status_code in (201, 202), r.text
    wait_for(lambda: pods(cluster, "ned"), 20, "the pod to be created")

    hub.stop(sig=signal.SIGKILL)
    cluster.kubelet.delay = 0.05
    hub.start()

    def settled() -> bool:
        server = hub.server("ned", "mid")
        if server is None or server["pending"]:
            return False
        running = bool(pods(cluster, "ned"))
        # either the hub took the pod over as a running workspace, or it stopped it
        return server["ready"] == running

    wait_for(settled, 90, "the workspace to be running with its pod, or stopped without one")
    if hub.server("ned", "mid")["ready"]:
        assert hub.get("/user/ned/mid/api/status", token=token).status_code == 200


@pytest.mark.browser
def test_the_dashboard_offers_storage_namespaces_and_data_volumes(kube_hub, browser: Browser, artifacts):
    hub, cluster = kube_hub
    hub.user_token("pia")
    cluster.admin.create("persistentvolumeclaims", {"metadata": {"name": "shared"}, "spec": {
        "accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}}, "pia")
    cluster.admin.create("resourcequotas", {"metadata": {"name": "pia-budget"}, "spec": {"hard": {"pods": "5"}}}, "pia")
    wait_for(lambda: cluster.admin.get("resourcequotas", "pia-budget", "pia").get("status", {}).get("used"), 30,
             "the quota's usage")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        log_in(page, hub, "pia")
        page.goto(f"{hub.url}/services/workspaces/#/new")
        expect(page.get_by_label("Namespace")).to_have_value("pia")
        expect(page.locator("#ws-namespace-quota")).to_have_text("Quota pia-budget: pods 0 of 5 used")
        expect(page.locator("#ws-storage-hint")).to_have_text("Default 10Gi, at most 100Gi.")
        page.get_by_label("Name", exact=True).fill("data")
        page.get_by_label("Storage (GiB)").fill("500")
        page.get_by_role("button", name="Create and start").click()
        expect(page.locator("#ws-storage-error")).to_contain_text("100Gi")  # the admin's bound, from the API
        assert not hub.server("pia", "data")

        page.get_by_label("Storage (GiB)").fill("5")
        expect(page.locator("#ws-storage-error")).to_have_count(0)  # a changed field loses its old error
        page.get_by_role("button", name="Add a data volume").click()
        page.get_by_label("Claim").fill("shared")
        page.get_by_label("Mount path").fill("/data")
        page.screenshot(path=str(artifacts / "dashboard-form-kubernetes.png"), full_page=True)
        page.get_by_role("button", name="Create and start").click()
        page.wait_for_url("**/user/pia/data/**", timeout=60_000)
    finally:
        context.close()
    name = object_name("pia", "data")
    [pod] = [p for p in cluster.items("pods", "pia") if p["metadata"]["name"] == name]
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == "data-0"]
    # written as readOnly: false, which the server leaves out (its default)
    assert volume["persistentVolumeClaim"]["claimName"] == "shared" and not volume["persistentVolumeClaim"].get("readOnly")
    [claim] = [c for c in cluster.items("persistentvolumeclaims", "pia") if c["metadata"]["name"] == name]
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert hub.api("DELETE", "/users/pia/servers/data", json={"remove": True}).status_code in (202, 204)
    hub.wait_removed("pia", "data")


def test_the_dashboard_starts_a_custom_image_the_catalog_allows_and_refuses_others(kube_hub, browser: Browser):
    hub, cluster = kube_hub
    before = hub.catalog_file.read_text()
    catalog = yaml.safe_load(before)
    catalog["custom_images"] = {"allow": ["registry.example.org/team/*"]}
    hub.catalog_file.write_text(yaml.safe_dump(catalog))  # read again at the next request
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        log_in(page, hub, "ria")
        page.goto(f"{hub.url}/services/workspaces/#/new")
        page.get_by_label("Name", exact=True).fill("own")
        expect(page.locator("#ws-custom-image-hint")).to_have_text(
            "Allowed: registry.example.org/team/* ('*': one path component; any tag).")
        page.get_by_label("Custom image").check()
        page.get_by_role("button", name="Create and start").click()
        expect(page.locator("#ws-custom-image-error")).to_have_text("Enter an image reference.")
        reference = page.get_by_label("Image reference")
        reference.fill("registry.example.org/other/x:1")
        page.get_by_role("button", name="Create and start").click()
        expect(page.locator("#ws-custom-image-error")).to_have_text(
            "'registry.example.org/other/x:1' matches no allowed pattern; allowed patterns: registry.example.org/team/*")
        expect(reference).to_be_focused()
        assert not hub.server("ria", "own")
        reference.fill("registry.example.org/team/x:1")
        page.get_by_role("button", name="Create and start").click()
        page.wait_for_url("**/user/ria/own/**", timeout=60_000)
    finally:
        context.close()
        hub.catalog_file.write_text(before)
    [pod] = [p for p in cluster.items("pods", "ria") if p["metadata"]["name"] == object_name("ria", "own")]
    assert [c["image"] for c in pod["spec"]["containers"]] == ["registry.example.org/team/x:1"]
    assert hub.api("DELETE", "/users/ria/servers/own", json={"remove": True}).status_code in (202, 204)
    hub.wait_removed("ria", "own")
