"""The Helm chart in helm/, rendered by the real Helm binary with the defaults and each example."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from workspaces.cli import main as workspaces_cli
from workspaces.config import WorkspacesConfig

from ..k8s.kube import SCHEMA_VERSIONS, rules_of
from ..k8s.test_rbac import granted as granted_by_the_documented_rules
from .chart import (CHART, EGRESS, ISTIO_KINDS, NAMESPACE, VALUES, egress_policy_of, helm, of_kind, render,
                    workspaces_yaml, write)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(*args) for name, args in VALUES.items()}


def config_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return yaml.safe_load(workspaces_yaml(objects))


def containers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for d in of_kind(objects, "Deployment") for c in d["spec"]["template"]["spec"]["containers"]]


# -- lint and validity ---------------------------------------------------------


@pytest.mark.parametrize("values", VALUES)
def test_the_chart_lints_strictly(values):
    done = helm("lint", "--strict", str(CHART), *VALUES[values])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("values", VALUES)
def test_every_rendered_object_is_valid_kubernetes(rendered, values):
    for obj in rendered[values]:
        if obj["kind"] in ISTIO_KINDS:
            assert obj["apiVersion"].split("/")[0] in {"networking.istio.io", "security.istio.io"}
            continue
        for version in SCHEMA_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("values", VALUES)
def test_object_names_are_dns_labels(rendered, values):
    for obj in rendered[values]:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", obj["metadata"]["name"]), obj["metadata"]["name"]


@pytest.mark.parametrize("values", VALUES)
def test_the_rendered_workspaces_yaml_passes_the_config_check(rendered, values, tmp_path, capsys):
    path = write(tmp_path, "workspaces.yaml", workspaces_yaml(rendered[values]))
    assert workspaces_cli(["config", "check", str(path)]) == 0, capsys.readouterr().err
    assert "OK (backend kubernetes" in capsys.readouterr().out


# -- configuration -------------------------------------------------------------


def test_the_hub_runs_beside_its_own_proxy_pod(rendered):
    hub = config_of(rendered["default"])["hub"]
    assert hub["external_proxy"] is True
    assert hub["proxy_api_url"] == "http://ws-workspaces-proxy-api:8001"
    assert hub["connect_url"] == f"http://ws-workspaces-hub.{NAMESPACE}.svc:8081"


def test_the_proxy_reaches_the_hubs_services_through_the_hubs_service(rendered):
    objects = rendered["default"]
    config = WorkspacesConfig.model_validate(config_of(objects))
    [hub_service] = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == config.hub.services_host]
    ports = {p["port"] for p in hub_service["spec"]["ports"]}
    assert {config.hub.hub_port, config.api.port, config.culling.port} <= ports


def test_one_origin_serves_everything_by_default(rendered):
    assert "subdomain_host" not in config_of(rendered["default"])["hub"]
    assert not any("--host-routing" in c.get("command", []) for c in containers(rendered["default"]))


def test_an_origin_per_user_reaches_the_hub_and_the_proxy_routes_by_host(rendered):
    objects = rendered["subdomains"]
    assert config_of(objects)["hub"]["subdomain_host"] == "https://hub.example.org"
    [proxy] = [c for c in containers(objects) if c["name"] == "proxy"]
    assert "--host-routing" in proxy["command"]


def test_an_origin_per_user_is_refused_beside_kubeflow():
    done = helm("template", "ws", str(CHART), *VALUES["kubeflow"], "--set", "hub.subdomainHost=https://hub.example.org")
    assert done.returncode != 0
    assert "hub.subdomainHost does not work beside Kubeflow" in done.stderr


def test_the_subdomain_host_is_a_url_without_a_path():
    done = helm("template", "ws", str(CHART), "--set", "hub.subdomainHost=https://hub.example.org/hub")
    assert done.returncode != 0 and "subdomainHost" in done.stderr


def test_the_hubs_service_reaches_the_hub_while_it_starts(rendered):
    # the starting hub waits (30 s, then exits) for its services at the Service, before it is Ready
    objects = rendered["default"]
    services_host = config_of(objects)["hub"]["services_host"]
    [hub_service] = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == services_host]
    assert hub_service["spec"]["publishNotReadyAddresses"] is True


def test_the_workspace_namespace_defaults_to_the_release_namespace(rendered):
    assert config_of(rendered["default"])["kubernetes"]["namespace"] == NAMESPACE


def test_values_under_workspaces_reach_workspaces_yaml(rendered):
    config = config_of(rendered["standalone"])
    assert config["culling"]["rules"] == [{"name": "gpu", "match": {"gpu": True}, "timeout": "30m"}]
    assert config["auth"]["admin_users"] == ["admin", "ops"]


def test_budgets_under_workspaces_quotas_reach_workspaces_yaml(rendered):
    assert "quotas" not in config_of(rendered["default"])  # none set: no limits
    quotas = {"default": {"gpus": 1, "storage": "50Gi"}, "groups": {"ml": {"gpus": 4}}}
    objects = render("--set-json", f"workspaces.quotas={json.dumps(quotas)}")
    config = config_of(objects)
    assert config["quotas"] == quotas
    assert WorkspacesConfig.model_validate(config).quotas.groups["ml"].gpus == 4


def test_sqlite_on_the_hubs_volume_by_default(rendered):
    assert "db_url_env" not in config_of(rendered["default"])["hub"]
    [hub] = [c for c in containers(rendered["default"]) if c["name"] == "hub"]
    assert {"name": "data", "mountPath": "/srv/workspaces"} in hub["volumeMounts"]
    assert config_of(rendered["default"])["hub"]["data_dir"] == "/srv/workspaces"
    assert len(of_kind(rendered["default"], "PersistentVolumeClaim")) == 1


def test_the_sqlite_database_is_upgraded_when_a_new_hub_starts(rendered):
    # otherwise a chart upgrade that brings a new JupyterHub schema leaves the hub refusing to start
    from jupyterhub.app import JupyterHub

    [hub] = [c for c in containers(rendered["default"]) if c["name"] == "hub"]
    app = JupyterHub()
    app.parse_command_line(hub["args"])  # after the command, whose config file is in the image
    assert app.upgrade_db is True


def test_an_external_database_is_never_upgraded_by_the_chart(rendered):
    # no automatic backup of a server database: its operator upgrades it (jupyterhub upgrade-db)
    [hub] = [c for c in containers(rendered["external-database"]) if c["name"] == "hub"]
    assert "--upgrade-db" not in hub.get("args", []) + hub["command"]


def test_an_external_database_url_comes_from_its_secret(rendered):
    objects = rendered["external-database"]
    env_name = config_of(objects)["hub"]["db_url_env"]
    [hub] = [c for c in containers(objects) if c["name"] == "hub"]
    [entry] = [e for e in hub["env"] if e["name"] == env_name]
    assert entry["valueFrom"]["secretKeyRef"] == {"name": "workspaces-db", "key": "url"}
    assert "postgresql" not in workspaces_yaml(objects)


def test_an_external_database_without_its_secret_is_refused():
    done = helm("template", "ws", str(CHART), "--set", "hub.db.type=external")
    assert done.returncode != 0
    assert "hub.db.external.secretName" in done.stderr


def test_generated_secrets_are_in_a_secret_not_in_the_config(rendered):
    objects = rendered["default"]
    [secret] = of_kind(objects, "Secret")
    cookie = base64.b64decode(secret["data"]["cookie-secret"]).decode()
    assert re.fullmatch(r"[0-9a-f]{64}", cookie)  # JupyterHub's JPY_COOKIE_SECRET: 32 bytes in hex
    token = base64.b64decode(secret["data"]["proxy-token"]).decode()
    assert token not in yaml.safe_dump([o for o in objects if o["kind"] != "Secret"])


def test_the_proxys_checksum_is_of_the_token_in_the_secret(rendered):
    # one generated token per render: the first upgrade finds that one in the Secret, and the proxy keeps running
    objects = rendered["default"]
    [secret] = of_kind(objects, "Secret")
    [proxy] = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-proxy")]
    checksum = proxy["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
    assert checksum == hashlib.sha256(secret["data"]["proxy-token"].encode()).hexdigest()


# -- pods ----------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES)
def test_every_container_is_non_root_with_resources_and_probes(rendered, values):
    for deployment in of_kind(rendered[values], "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
            assert c["readinessProbe"] and c["livenessProbe"]


def test_only_the_hub_gets_a_kubernetes_api_token(rendered):
    tokens = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["automountServiceAccountToken"]
              for d in of_kind(rendered["default"], "Deployment")}
    assert tokens == {"ws-workspaces-hub": True, "ws-workspaces-proxy": False}


def test_disruption_budgets_only_when_asked(rendered):
    assert of_kind(rendered["default"], "PodDisruptionBudget") == []
    [pdb] = of_kind(rendered["standalone"], "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "hub"


# -- RBAC ----------------------------------------------------------------------


def hub_roles(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The hub's own roles of ``kind``: the pre-puller's and the placeholders' Roles are checked apart
    (test_chart_prepuller.py, test_chart_placeholders.py)."""
    apart = {"prepuller", "placeholder"}
    return [r for r in of_kind(objects, kind) if r["metadata"]["labels"]["app.kubernetes.io/component"] not in apart]


def grants(objects: list[dict[str, Any]], kind: str) -> set[tuple[str, str, str]]:
    return set().union(*(rules_of(r) for r in hub_roles(objects, kind)))


def test_the_charts_rules_are_the_documented_rules_split_by_mode(rendered):
    documented = granted_by_the_documented_rules()
    every_mode = set()
    for values, objects in rendered.items():
        mode = grants(objects, "ClusterRole") | grants(objects, "Role")
        assert mode <= documented, f"{values}: rules config/kubernetes/rbac.yaml does not have"
        every_mode |= mode
    assert every_mode == documented, "rules of config/kubernetes/rbac.yaml that no mode of the chart grants"


@pytest.mark.parametrize("values", VALUES)
def test_no_rule_has_a_wildcard(rendered, values):
    for role in of_kind(rendered[values], "ClusterRole") + of_kind(rendered[values], "Role"):
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], (role["metadata"]["name"], rule)
            assert "resourceNames" not in rule or "*" not in rule["resourceNames"]


def test_with_one_namespace_only_the_watches_are_cluster_wide(rendered):
    objects = rendered["default"]
    assert grants(objects, "ClusterRole") == {("", "pods", "list"), ("", "pods", "watch"),
                                              ("", "events", "list"), ("", "events", "watch"),
                                              ("", "nodes", "list"), ("", "nodes", "watch")}
    [role] = hub_roles(objects, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert ("", "pods", "create") in rules_of(role)


def test_profile_namespaces_need_cluster_wide_rules_in_kubeflow_mode(rendered):
    objects = rendered["kubeflow"]
    assert hub_roles(objects, "Role") == []
    assert {("kubeflow.org", "profiles", "list"), ("", "pods", "create")} <= grants(objects, "ClusterRole")
    assert ("", "namespaces", "create") not in grants(objects, "ClusterRole")


def test_only_the_namespace_template_may_create_namespaces(rendered):
    modes = {values for values, objects in rendered.items() if ("", "namespaces", "create") in grants(objects, "ClusterRole")}
    assert modes == {"namespace-template"}


def test_the_roles_are_bound_to_the_hubs_service_account(rendered):
    objects = rendered["default"]
    [account] = [a for a in of_kind(objects, "ServiceAccount") if a["metadata"]["name"].endswith("-hub")]
    [hub] = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-hub")]
    assert hub["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    for binding in of_kind(objects, "ClusterRoleBinding") + of_kind(objects, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}]


def test_without_rbac_the_hub_still_has_the_service_account_it_runs_as():
    # rbac.create: false leaves the roles to the operator, not the account the pod names
    objects = render("--set", "rbac.create=false")
    assert of_kind(objects, "ClusterRole") + of_kind(objects, "Role") == []
    [hub] = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-hub")]
    accounts = {a["metadata"]["name"] for a in of_kind(objects, "ServiceAccount")}
    assert hub["spec"]["template"]["spec"]["serviceAccountName"] in accounts


# -- network policies ----------------------------------------------------------


def test_network_policies_are_on_by_default(rendered):
    names = {p["metadata"]["name"] for p in of_kind(rendered["default"], "NetworkPolicy")}
    assert names == {"ws-workspaces-hub", "ws-workspaces-proxy", "ws-workspaces-workspaces"}


def test_workspaces_admit_only_the_proxy_and_the_hub(rendered):
    [policy] = [p for p in of_kind(rendered["default"], "NetworkPolicy") if p["metadata"]["name"].endswith("-workspaces")]
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": "workspaces", "app.kubernetes.io/component": "workspace"}
    [rule] = policy["spec"]["ingress"]
    assert {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]} == {"proxy", "hub"}
    # those of this release's namespace, not pods labelled alike elsewhere
    assert all(peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}
               for peer in rule["from"])


def test_workspaces_reach_the_hub_api(rendered):
    [policy] = [p for p in of_kind(rendered["default"], "NetworkPolicy") if p["metadata"]["name"] == "ws-workspaces-hub"]
    [api_rule] = [r for r in policy["spec"]["ingress"] if r["ports"] == [{"port": "hub"}]]
    assert {"namespaceSelector": {}, "podSelector": {"matchLabels": {
        "app.kubernetes.io/managed-by": "workspaces", "app.kubernetes.io/component": "workspace"}}} in api_rule["from"]


def test_the_hubs_services_admit_the_proxy_and_the_hub_itself(rendered):
    # at start the hub waits for each managed service at its URL (the hub's Service) and exits if none answers
    [policy] = [p for p in of_kind(rendered["default"], "NetworkPolicy") if p["metadata"]["name"] == "ws-workspaces-hub"]
    [services_rule] = [r for r in policy["spec"]["ingress"] if {"port": "api"} in r["ports"]]
    assert services_rule["ports"] == [{"port": "culler"}, {"port": "api"}]
    assert {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in services_rule["from"]} == {
        "proxy", "hub"}
    assert all("namespaceSelector" not in peer for peer in services_rule["from"])  # this namespace only


def test_only_the_hub_reaches_the_proxys_api(rendered):
    [policy] = [p for p in of_kind(rendered["default"], "NetworkPolicy") if p["metadata"]["name"] == "ws-workspaces-proxy"]
    [api_rule] = [r for r in policy["spec"]["ingress"] if r["ports"] == [{"port": "api"}]]
    assert [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in api_rule["from"]] == ["hub"]


# -- logins outside Kubeflow mode -----------------------------------------------


def test_the_standalone_default_is_a_password_per_person(rendered):
    assert config_of(rendered["default"])["auth"] == {"type": "native", "admin_users": ["admin"], "native": {}}


def test_the_oidc_client_secret_comes_from_the_operators_secret_never_the_config_map(rendered):
    objects = rendered["oidc"]
    assert config_of(objects)["auth"]["type"] == "oidc"
    assert "secret" not in yaml.safe_dump(config_of(objects)["auth"]).replace("client_secret_env", "")
    [hub] = [c for c in containers(objects) if c["name"] == "hub"]
    [variable] = [e for e in hub["env"] if e["name"] == "WORKSPACES_OIDC_CLIENT_SECRET"]
    assert variable["valueFrom"] == {"secretKeyRef": {"name": "workspaces-oidc", "key": "client-secret"}}


@pytest.mark.parametrize(("leave_out", "message"), [
    ("hub.oidcClientSecret.secretName", "workspaces.auth.type oidc needs hub.oidcClientSecret.secretName"),
    ("workspaces.auth.oidc.callback_url", "workspaces.auth.oidc.callback_url is required"),
])
def test_oidc_without_its_secret_or_callback_is_refused_at_install(leave_out, message):
    done = helm("template", "ws", str(CHART), "-f", str(CHART / "examples" / "oidc.yaml"), "--set", f"{leave_out}=null")
    assert done.returncode != 0
    assert message in done.stderr


def test_the_schema_refuses_the_shared_password_on_kubernetes():
    done = helm("template", "ws", str(CHART), "--set", "workspaces.auth.type=shared-password")
    assert done.returncode != 0
    assert "at '/workspaces/auth/type': value must be one of 'native', 'oidc'" in done.stderr


# -- workspace egress (the hub writes the policy where workspaces run) -----------


@pytest.fixture(scope="module")
def egress_rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(*args) for name, args in EGRESS.items()}


def test_workspace_egress_is_limited_by_default(rendered):
    egress = config_of(rendered["default"])["kubernetes"]["egress"]
    assert (egress["enabled"], egress["private_ips"], egress["cloud_metadata"], egress["allow"]) == (True, False, False, [])


@pytest.mark.parametrize("values", VALUES)
def test_the_hub_is_told_where_its_own_pods_are(rendered, values):
    objects = rendered[values]
    hub_pods = config_of(objects)["kubernetes"]["egress"]["hub_pods"]
    [hub] = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-hub")]
    assert hub_pods["namespace"] == NAMESPACE
    assert hub_pods["pod_labels"].items() <= hub["spec"]["template"]["metadata"]["labels"].items()
    [proxy] = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-proxy")]
    assert not hub_pods["pod_labels"].items() <= proxy["spec"]["template"]["metadata"]["labels"].items()


def test_the_egress_policy_is_named_for_the_release_and_its_namespace(rendered):
    # two releases may run workspaces in the same Kubeflow profile namespaces: their policies must not clash
    name = config_of(rendered["default"])["kubernetes"]["egress"]["policy_name"]
    assert name == f"ws-workspaces-{NAMESPACE}-egress"
    long = render("--namespace", "n" * 63, "--set", "fullnameOverride=" + "f" * 63)
    assert len(config_of(long)["kubernetes"]["egress"]["policy_name"]) <= 63


def test_without_network_policies_the_hub_writes_no_egress_policy():
    objects = render("--set", "networkPolicy.enabled=false")
    assert of_kind(objects, "NetworkPolicy") == []
    assert egress_policy_of(objects) is None


@pytest.mark.parametrize("toggle", EGRESS)
def test_every_egress_policy_is_valid_kubernetes(egress_rendered, toggle):
    policy = egress_policy_of(egress_rendered[toggle])
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(policy, version, strict=True)


def test_the_egress_toggles_reach_the_hubs_config(egress_rendered):
    def egress(toggle):
        return config_of(egress_rendered[toggle])["kubernetes"]["egress"]

    assert egress("private ips")["private_ips"] is True and egress("private ips")["cloud_metadata"] is False
    assert egress("cloud metadata")["cloud_metadata"] is True and egress("cloud metadata")["private_ips"] is False
    assert [a.get("cidr") or a["namespace"] for a in egress("allow")["allow"]] == ["10.20.0.0/16", "mlflow"]


def test_kubeflow_mode_sidecars_reach_istiod(egress_rendered):
    rules = egress_policy_of(egress_rendered["kubeflow"])["spec"]["egress"]
    istiod = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}}],
              "ports": [{"port": 15012, "protocol": "TCP"}]}
    assert istiod in rules
    assert istiod not in egress_policy_of(egress_rendered["default"])["spec"]["egress"]


def test_the_schema_leaves_the_egress_settings_the_chart_owns_to_the_chart():
    # networkPolicy.enabled turns egress limiting off; where the hub is, the chart knows
    for key in ("enabled=false", "policy_name=x", "hub_pods=x"):
        done = helm("template", "ws", str(CHART), "--set", f"workspaces.kubernetes.egress.{key}")
        assert done.returncode != 0
        assert f"additional properties '{key.split('=')[0]}' not allowed" in done.stderr


# -- Kubeflow mode -------------------------------------------------------------


@pytest.mark.parametrize("values", [v for v in VALUES if v != "kubeflow"])
def test_kubeflow_objects_only_in_kubeflow_mode(rendered, values):
    assert {o["kind"] for o in rendered[values]} & ISTIO_KINDS == set()
    assert config_of(rendered[values])["auth"]["type"] in {"native", "oidc"}


def test_kubeflow_mode_trusts_the_gateways_header(rendered):
    auth = config_of(rendered["kubeflow"])["auth"]
    assert auth["type"] == "header"
    assert auth["header"]["user_header"] == "kubeflow-userid"
    assert auth["header"]["trusted_sources"]


def test_kubeflow_mode_routes_the_hub_path_on_the_gateway(rendered):
    objects = rendered["kubeflow"]
    [route] = of_kind(objects, "VirtualService")
    assert route["spec"]["gateways"] == ["kubeflow/kubeflow-gateway"]
    assert route["spec"]["http"][0]["match"] == [{"uri": {"prefix": "/workspaces/"}}]
    assert route["spec"]["http"][0]["route"][0]["destination"]["host"].startswith("ws-workspaces-proxy-public.")
    assert config_of(objects)["hub"]["base_url"] == "/workspaces/"


def test_kubeflow_mode_lets_the_proxy_reach_workspaces_in_every_profile_namespace(rendered):
    [policy] = [p for p in of_kind(rendered["kubeflow"], "AuthorizationPolicy") if p["spec"]["action"] == "ALLOW"]
    assert policy["metadata"]["namespace"] == "istio-system"  # Istio's root namespace: all namespaces
    assert policy["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "workspace"
    principals = policy["spec"]["rules"][0]["from"][0]["source"]["principals"]
    assert f"cluster.local/ns/{NAMESPACE}/sa/ws-workspaces-proxy" in principals


def test_kubeflow_mode_lets_only_the_gateway_send_the_user_header(rendered):
    denials = {p["metadata"]["name"]: p["spec"] for p in of_kind(rendered["kubeflow"], "AuthorizationPolicy")
               if p["spec"]["action"] == "DENY"}
    proxy = denials["ws-workspaces-proxy-user-header"]["rules"][0]
    assert proxy["from"][0]["source"]["notPrincipals"] == [
        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]
    assert proxy["when"] == [{"key": "request.headers[kubeflow-userid]", "values": ["*"]}]
    hub = denials["ws-workspaces-hub-user-header"]["rules"][0]
    assert hub["from"][0]["source"]["notPrincipals"] == [f"cluster.local/ns/{NAMESPACE}/sa/ws-workspaces-proxy"]


# -- the values schema ---------------------------------------------------------


def test_the_schema_refuses_an_unknown_key_and_names_it():
    done = helm("template", "ws", str(CHART), "--set", "hub.replicas=2")
    assert done.returncode != 0
    assert "at '/hub': additional properties 'replicas' not allowed" in done.stderr


def test_the_schema_refuses_a_wrong_type_and_names_the_key():
    done = helm("template", "ws", str(CHART), "--set-string", "networkPolicy.enabled=yes")
    assert done.returncode != 0
    assert "at '/networkPolicy/enabled': got string, want boolean" in done.stderr


def test_the_schema_refuses_an_unknown_key_in_workspaces_settings():
    done = helm("template", "ws", str(CHART), "--set", "workspaces.culling.timeout=1h")
    assert done.returncode != 0
    assert "at '/workspaces/culling': additional properties 'timeout' not allowed" in done.stderr


def test_notes_tell_how_to_reach_the_hub_and_log_in():
    done = helm("install", "ws", str(CHART), "--dry-run=client", "--namespace", NAMESPACE)
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert f"kubectl -n {NAMESPACE} port-forward service/ws-workspaces-proxy-public 8000:80" in notes
    assert "cat /srv/workspaces/admin-password" in notes
    assert "signs up at /hub/signup" in notes and "user-password" not in notes
    assert "/services/workspaces/ on the same address" in notes  # the dashboard
