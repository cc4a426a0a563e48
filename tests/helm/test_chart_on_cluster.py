"""The chart on the real control plane: `helm install`, `upgrade` and `uninstall` with the real Helm.

`helm template` (test_chart.py) has no cluster: it cannot run the chart's `lookup`, which keeps
the generated secrets, and no server judges what it renders. Here each test installs a release
into a fresh namespace that enforces Pod Security "restricted", with the default values, each
example values file or the namespace template, after creating what the example says to create
first. The nodes are simulated (tests/support/kubelet.py): they mark the pods the scheduler bound
as running, they do not run the hub. Istio's CRDs come from tests/data/istio-crds.yaml.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..k8s.kube import rules_of
from ..k8s.test_rbac import granted as granted_by_the_documented_rules
from ..support.cluster import Kube, KubeError, wait_until
from ..support.cluster_fixture import DATA, Cluster
from .chart import CHART, EGRESS, ISTIO_KINDS, VALUES, Release, egress_policy_of, render, workspaces_yaml

RELEASE = "ws"
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
GENERATED = {"cookie-secret", "proxy-token"}  # templates/secret.yaml
TIMEOUT = 60  # for the controllers, the scheduler and the simulated kubelet on 2 busy cores

# config/kubernetes/rbac.yaml's rules, in the parts helm/README.md ("RBAC") grants by mode
WATCHES = {("", "pods", "list"), ("", "pods", "watch"), ("", "events", "list"), ("", "events", "watch"),
           ("", "nodes", "list"), ("", "nodes", "watch")}  # nodes: the form's capacity hint
WORKSPACE_OBJECTS = {
    ("", "pods", "create"), ("", "pods", "delete"),
    *(("", "persistentvolumeclaims", verb) for verb in ("get", "list", "create", "delete")),
    *(("", "secrets", verb) for verb in ("create", "patch", "delete")),  # the token of each workspace, never read
    ("kubeflow.org", "poddefaults", "list"),
    # the egress NetworkPolicy where workspaces run (never read)
    ("networking.k8s.io", "networkpolicies", "create"), ("networking.k8s.io", "networkpolicies", "update"),
    ("", "resourcequotas", "list"),  # a start the quotas cannot hold is refused before anything is made
}
KUBEFLOW = {
    *(("", "services", verb) for verb in ("get", "create", "delete")),
    ("kubeflow.org", "profiles", "list"), ("rbac.authorization.k8s.io", "rolebindings", "list"),
}
TEMPLATE = {("", "namespaces", "create")}
# the hub's own objects in the release namespace, in every mode: the pre-puller's DaemonSets, the placeholders' Deployments
CONTROLLERS = {("apps", kind, verb) for kind in ("daemonsets", "deployments") for verb in ("list", "create", "patch", "delete")}
# mode -> (the hub's rules where workspaces go, its rules in any other namespace)
RULES = {
    "one namespace": (WATCHES | WORKSPACE_OBJECTS, WATCHES),
    "kubeflow": (WATCHES | WORKSPACE_OBJECTS | KUBEFLOW,) * 2,
    "namespace template": (WATCHES | WORKSPACE_OBJECTS | TEMPLATE,) * 2,
}


# -- the cluster side ----------------------------------------------------------


def server_path(kube: Kube, obj: dict[str, Any], namespace: str) -> str:
    """The REST path of a manifest's object, its resource found by discovery as Helm finds it."""
    api_version = obj["apiVersion"]
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    [resource] = [r for r in kube.request("GET", base)["resources"] if r["kind"] == obj["kind"] and "/" not in r["name"]]
    scope = f"/namespaces/{obj['metadata'].get('namespace', namespace)}" if resource["namespaced"] else ""
    return f"{base}{scope}/{resource['name']}/{obj['metadata']['name']}"


def on_server(kube: Kube, obj: dict[str, Any], namespace: str) -> dict[str, Any] | None:
    try:
        return kube.request("GET", server_path(kube, obj, namespace))
    except KubeError as e:
        if e.code == 404:
            return None
        raise


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in labels.items())


def running_pod(kube: Kube, namespace: str, deployment: str) -> dict[str, Any]:
    """The Deployment's pod once it runs; a pod the API server refuses fails at once with its words."""
    selector = label_selector(kube.get("deployments", deployment, namespace)["spec"]["selector"]["matchLabels"])

    def running() -> dict[str, Any] | None:
        refused = [e["message"] for e in kube.list("events", namespace, fieldSelector="reason=FailedCreate")
                   if e["involvedObject"]["name"].startswith(f"{deployment}-")]
        assert not refused, f"{deployment}: {refused[0]}"
        return next((p for p in kube.list("pods", namespace, labelSelector=selector)
                     if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")), None)

    return wait_until(running, TIMEOUT, f"a running pod of {namespace}/{deployment}")


def rolled_out(kube: Kube, namespace: str, deployment: str) -> bool:
    """What `kubectl rollout status` waits for: the current template's one replica ready, no other left."""
    d = kube.get("deployments", deployment, namespace)
    status = d.get("status", {})
    return (status.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("readyReplicas") == status.get("replicas") == d["spec"]["replicas"])


def bound(kube: Kube, namespace: str, claim: str) -> dict[str, Any] | None:
    found = kube.get("persistentvolumeclaims", claim, namespace)
    return found if found["status"].get("phase") == "Bound" else None


def secret_values(kube: Kube, release: Release) -> dict[str, str]:
    return kube.get("secrets", release.object_name("secret"), release.namespace)["data"]


def config_on_server(kube: Kube, release: Release) -> dict[str, Any]:
    """The workspaces.yaml the hub reads, from the ConfigMap on the server."""
    return yaml.safe_load(workspaces_yaml([kube.get("configmaps", release.object_name("hub"), release.namespace)]))


def rules_in(kube: Kube, namespace: str) -> set[tuple[str, str, str]]:
    """What the server lets the client do in the namespace, asked with the client's own credentials."""
    review = kube.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": namespace}})
    assert not review["status"]["incomplete"], review["status"].get("evaluationError")
    return rules_of({"rules": review["status"]["resourceRules"]})


def token_client(cluster: Cluster, namespace: str, service_account: str) -> Kube:
    """A client with a token of the account, as a pod that runs as it gets one."""
    return cluster.admin.as_token(cluster.admin.request_token(namespace, service_account))


def hub_rules_in(cluster: Cluster, release: Release, namespace: str) -> set[tuple[str, str, str]]:
    """The hub's rules in the namespace beyond what every account may do (review itself), asked with its token."""
    hub = token_client(cluster, release.namespace, release.object_name("hub"))
    anyone = token_client(cluster, release.namespace, "default")
    return rules_in(hub, namespace) - rules_in(anyone, namespace)


def mode_of(config: dict[str, Any]) -> str:
    kubernetes = config["kubernetes"]
    if kubernetes.get("kubeflow"):
        return "kubeflow"
    return "namespace template" if kubernetes.get("namespace_template") else "one namespace"


# -- releases ------------------------------------------------------------------


def prepare(cluster: Cluster, values: str, namespace: str) -> None:
    """What an example's comments say to create before installing it."""
    example = CHART / "examples" / f"{values}.yaml"
    settings = yaml.safe_load(example.read_text()) if example.exists() else {}
    workspaces_namespace = settings.get("workspaces", {}).get("kubernetes", {}).get("namespace")
    if workspaces_namespace:  # "a workspaces namespace of its own (create it first)"
        cluster.admin.namespace(workspaces_namespace)
    external = settings.get("hub", {}).get("db", {}).get("external")
    if external:  # "Create the Secret first"
        url = base64.b64encode(b"postgresql://hub:pw@postgres.db.svc:5432/hub").decode()
        cluster.admin.create("secrets", {"metadata": {"name": external["secretName"]},
                                         "data": {external["secretKey"]: url}}, namespace)
    oidc = settings.get("hub", {}).get("oidcClientSecret")
    if oidc:  # "kubectl create secret generic workspaces-oidc --from-literal=client-secret=..."
        secret = base64.b64encode(b"the-oidc-client-secret").decode()
        cluster.admin.create("secrets", {"metadata": {"name": oidc["secretName"]},
                                         "data": {oidc.get("secretKey", "client-secret"): secret}}, namespace)


@pytest.fixture(scope="module")
def istio(cluster: Cluster) -> None:
    """Istio's CRDs and its root namespace, as a cluster with Kubeflow has them."""
    crds = list(yaml.safe_load_all((DATA / "istio-crds.yaml").read_text()))
    for crd in crds:
        cluster.admin.apply("customresourcedefinitions", crd)

    for crd in crds:
        wait_until(lambda: cluster.established(crd["metadata"]["name"]), TIMEOUT, f"CRD {crd['metadata']['name']}")
    cluster.admin.namespace("istio-system")


@pytest.fixture
def install(cluster: Cluster, istio: None, tmp_path: Path) -> Iterator[Callable[..., Release]]:
    """install(values, *helm_args): the chart in a fresh restricted namespace; what is left is uninstalled after the test."""
    kubeconfig = cluster.admin.write_kubeconfig(tmp_path / "kubeconfig")
    releases: list[Release] = []

    def install(values: str, *extra: str) -> Release:
        namespace = cluster.namespace("helm", RESTRICTED)
        prepare(cluster, values, namespace)
        release = Release(RELEASE, namespace, kubeconfig, VALUES[values])
        releases.append(release)
        return release.install(*extra)

    yield install
    for release in releases:  # with its objects outside its namespace (cluster roles, istio-system)
        if release.on_cluster:
            release.run("uninstall", release.name)


# -- install -------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES)
def test_install_creates_every_object_of_the_release(cluster, install, values):
    release = install(values)
    objects = release.manifest()
    assert {"Deployment", "ServiceAccount", "Secret", "PersistentVolumeClaim"} <= {o["kind"] for o in objects}
    missing = [f"{o['kind']} {o['metadata']['name']}" for o in objects if on_server(cluster.admin, o, release.namespace) is None]
    assert missing == []


@pytest.mark.parametrize("values", VALUES)
def test_the_hub_and_the_proxy_get_pods_under_pod_security_restricted(cluster, install, values):
    release = install(values)
    assert cluster.admin.get("namespaces", release.namespace)["metadata"]["labels"].items() >= RESTRICTED.items()
    for part in ("hub", "proxy"):
        running_pod(cluster.admin, release.namespace, release.object_name(part))


def test_the_istio_objects_reach_the_server_as_rendered(cluster, install):
    # a field the CRD's schema does not know would be pruned without a word
    release = install("kubeflow")
    istio_objects = [o for o in release.manifest() if o["kind"] in ISTIO_KINDS]
    assert len(istio_objects) == 4  # the VirtualService and three AuthorizationPolicies
    for obj in istio_objects:
        assert on_server(cluster.admin, obj, release.namespace)["spec"] == obj["spec"], obj["metadata"]["name"]


def test_two_kubeflow_releases_of_one_name_install_side_by_side(cluster, install):
    # each puts a policy into Istio's root namespace, which they share
    releases = [install("kubeflow"), install("kubeflow")]
    policies = cluster.admin.request("GET", "/apis/security.istio.io/v1/namespaces/istio-system/authorizationpolicies",
                                     params={"labelSelector": f"app.kubernetes.io/instance={RELEASE}"})["items"]
    principals = {p for policy in policies for p in policy["spec"]["rules"][0]["from"][0]["source"]["principals"]}
    for release in releases:
        assert f"cluster.local/ns/{release.namespace}/sa/{release.object_name('proxy')}" in principals


# -- workspace egress ----------------------------------------------------------


@pytest.mark.parametrize("toggle", EGRESS)
def test_the_api_server_accepts_the_egress_policy_of_every_toggle(cluster, toggle):
    # the hub writes it where workspaces run (tests/security/test_egress.py starts workspaces with it)
    policy = egress_policy_of(render(*EGRESS[toggle]))
    namespace = cluster.namespace("egress")
    stored = cluster.admin.create("networkpolicies", policy, namespace)
    assert stored["spec"] == policy["spec"]  # nothing dropped or defaulted away


# -- the hub's rights ----------------------------------------------------------


def test_the_modes_split_the_documented_rules_without_remainder():
    assert WATCHES | WORKSPACE_OBJECTS | KUBEFLOW | TEMPLATE == granted_by_the_documented_rules()


@pytest.mark.parametrize("values", VALUES)
def test_the_hubs_account_holds_exactly_the_rules_of_its_mode(cluster, install, values):
    release = install(values)
    config = config_on_server(cluster.admin, release)
    mode = mode_of(config)
    # in Kubeflow mode and with a template, a namespace made after the install (a profile, a user's)
    workspaces = config["kubernetes"]["namespace"] if mode == "one namespace" else cluster.namespace("later")
    expected_there, expected_elsewhere = RULES[mode]
    # the authorizer sees Roles just made a moment later
    wait_until(lambda: hub_rules_in(cluster, release, release.namespace) >= CONTROLLERS, TIMEOUT,
               "the pre-puller's and the placeholders' Roles in the release namespace")
    if workspaces == release.namespace:
        expected_there = expected_there | CONTROLLERS
    assert hub_rules_in(cluster, release, workspaces) == expected_there
    assert hub_rules_in(cluster, release, cluster.namespace("elsewhere")) == expected_elsewhere
    # the watch's list, across all namespaces, with the token the hub's pod gets
    token_client(cluster, release.namespace, release.object_name("hub")).list("pods", limit="1")


def test_an_upgrade_to_a_namespace_template_lets_the_hub_work_in_any_namespace(cluster, install):
    release = install("default")
    release.upgrade(*VALUES["namespace-template"])
    assert hub_rules_in(cluster, release, cluster.namespace("elsewhere")) == RULES["namespace template"][1]
    assert cluster.admin.find("roles", release.object_name("hub"), release.namespace) is None  # no longer rendered


# -- upgrade -------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES)
def test_an_upgrade_keeps_the_generated_secrets(cluster, install, values):
    release = install(values)
    before = secret_values(cluster.admin, release)
    proxy_template = cluster.admin.get("deployments", release.object_name("proxy"), release.namespace)["spec"]["template"]
    release.upgrade()
    assert set(before) == GENERATED
    assert secret_values(cluster.admin, release) == before
    # so the proxy, whose pod template carries a checksum of its token, is not restarted
    after = cluster.admin.get("deployments", release.object_name("proxy"), release.namespace)["spec"]["template"]
    assert after["metadata"]["annotations"] == proxy_template["metadata"]["annotations"]


def test_an_upgrade_applies_a_changed_value_and_restarts_the_hub(cluster, install):
    release = install("default")
    hub = release.object_name("hub")
    first = running_pod(cluster.admin, release.namespace, hub)
    release.upgrade("--set", "workspaces.culling.default_timeout=1h")
    assert config_on_server(cluster.admin, release)["culling"]["default_timeout"] == "1h"
    wait_until(lambda: rolled_out(cluster.admin, release.namespace, hub), TIMEOUT, "the hub's new pod")
    [pod] = cluster.admin.list("pods", release.namespace, labelSelector="app.kubernetes.io/component=hub")
    assert pod["metadata"]["uid"] != first["metadata"]["uid"]


# -- uninstall -----------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES)
def test_uninstall_removes_the_release_but_keeps_the_secret_and_the_hubs_volume(cluster, install, values):
    release = install(values)
    objects = release.manifest()
    secret = secret_values(cluster.admin, release)
    release.uninstall()
    kept = {("Secret", release.object_name("secret")), ("PersistentVolumeClaim", release.object_name("hub"))}
    for obj in objects:
        what = (obj["kind"], obj["metadata"]["name"])
        if what in kept:
            assert on_server(cluster.admin, obj, release.namespace) is not None, what
        else:
            wait_until(lambda obj=obj: on_server(cluster.admin, obj, release.namespace) is None, TIMEOUT, f"{what} to go")
    wait_until(lambda: not cluster.admin.list("pods", release.namespace), TIMEOUT, "the release's pods to go")
    assert secret_values(cluster.admin, release) == secret


def test_a_reinstall_finds_the_secret_and_the_hubs_volume_it_left(cluster, install):
    # "so a reinstall finds the same users and workspaces" (helm/README.md)
    release = install("default")
    secret = secret_values(cluster.admin, release)
    volume = wait_until(lambda: bound(cluster.admin, release.namespace, release.object_name("hub")), TIMEOUT, "the hub's volume")
    release.uninstall()
    release.install()
    assert secret_values(cluster.admin, release) == secret
    again = cluster.admin.get("persistentvolumeclaims", release.object_name("hub"), release.namespace)
    assert (again["metadata"]["uid"], again["spec"]["volumeName"]) == (volume["metadata"]["uid"], volume["spec"]["volumeName"])
    running_pod(cluster.admin, release.namespace, release.object_name("hub"))
