"""The egress NetworkPolicy the hub writes where workspaces run (spawner/egress.py), and its settings' errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from spawner.egress import egress_policy
from workspaces.config import WorkspacesConfig, load_config
from workspaces.errors import ConfigError

from ..support.network_policy import Destination, Pod, egress_allowed

WORKSPACE = Pod("team", {"app.kubernetes.io/managed-by": "workspaces", "app.kubernetes.io/component": "workspace"})
HUB = Pod("hub-ns", {"app": "hub"}, "10.244.0.9")
NAMESPACES = {"team": {"kubernetes.io/metadata.name": "team"}, "hub-ns": {"kubernetes.io/metadata.name": "hub-ns"},
              "istio-system": {"kubernetes.io/metadata.name": "istio-system"}}


def policy(**settings: Any) -> dict[str, Any] | None:
    hub = settings.pop("hub", {})
    istio = settings.pop("istio", False)
    config = WorkspacesConfig.model_validate({"hub": hub, "kubernetes": {"istio": istio, "egress": settings}})
    made = egress_policy(config)
    if made is not None:
        made["metadata"]["namespace"] = "team"  # where the hub writes it
    return made


def reaches(made: dict[str, Any] | None, ip: str | None = None, port: int = 443, protocol: str = "TCP",
            pod: Pod | None = None) -> bool:
    return egress_allowed([made] if made else [], WORKSPACE, Destination(port, protocol, pod=pod, ip=ip), NAMESPACES)


def test_it_selects_every_workspace_pod_and_only_limits_egress():
    made = policy()
    assert made["spec"]["podSelector"] == {"matchLabels": {
        "app.kubernetes.io/managed-by": "workspaces", "app.kubernetes.io/component": "workspace"}}
    assert made["spec"]["policyTypes"] == ["Egress"]  # who may reach workspaces is the chart's and Istio's


@pytest.mark.parametrize("ip", ["169.254.169.254", "100.100.100.200", "fd00:ec2::254"])
def test_the_metadata_servers_are_blocked_whatever_private_ips_says(ip):
    assert not reaches(policy(), ip, 80)
    assert not reaches(policy(private_ips=True), ip, 80)
    assert reaches(policy(cloud_metadata=True), ip, 80)


@pytest.mark.parametrize("ip", ["10.0.0.1", "172.20.1.1", "192.168.0.1", "100.64.0.1", "169.254.1.1", "fd12::1", "fe80::1"])
def test_private_addresses_are_blocked_unless_private_ips(ip):
    assert not reaches(policy(), ip, 5432)
    assert not reaches(policy(cloud_metadata=True), ip, 5432)
    assert reaches(policy(private_ips=True), ip, 5432)


@pytest.mark.parametrize("ip", ["8.8.8.8", "172.32.0.1", "2001:4860:4860::8888"])
def test_public_addresses_are_reachable(ip):
    assert reaches(policy(), ip)


def test_dns_is_reachable_in_kube_system_and_at_private_addresses():
    dns = Pod("kube-system", {"k8s-app": "kube-dns"}, "10.96.0.10")
    namespaces = {**NAMESPACES, "kube-system": {"kubernetes.io/metadata.name": "kube-system"}}
    for protocol in ("UDP", "TCP"):
        assert egress_allowed([policy()], WORKSPACE, Destination(53, protocol, pod=dns), namespaces)
        assert reaches(policy(), "169.254.20.10", 53, protocol)
    assert not reaches(policy(), "169.254.20.10", 54, "UDP")


def test_the_hubs_pods_are_reachable_on_the_hubs_port_only():
    made = policy(hub={"hub_port": 8091}, hub_pods={"namespace": "hub-ns", "pod_labels": {"app": "hub"}})
    assert reaches(made, port=8091, pod=HUB)
    assert not reaches(made, port=8003, pod=HUB)
    assert not reaches(made, port=8091, pod=Pod("hub-ns", {"app": "other"}, "10.244.0.10"))


def test_a_hub_outside_the_cluster_at_an_address_is_reachable_on_its_port():
    made = policy(hub={"connect_url": "http://10.0.5.5:8081"})
    assert reaches(made, "10.0.5.5", 8081)
    assert not reaches(made, "10.0.5.5", 22)


def test_istio_sidecars_reach_istiod():
    istiod = Pod("istio-system", {"app": "istiod"}, "10.244.3.3")
    assert reaches(policy(istio=True), port=15012, pod=istiod)
    assert not reaches(policy(), port=15012, pod=istiod)


def test_allow_rules_open_their_destinations():
    made = policy(allow=[{"cidr": "10.20.0.0/16", "except": ["10.20.9.0/24"], "ports": [{"port": 5432}]},
                         {"namespace": "hub-ns", "pod_labels": {"app": "db"}}])
    assert reaches(made, "10.20.1.1", 5432)
    assert not reaches(made, "10.20.9.1", 5432)
    assert not reaches(made, "10.20.1.1", 22)
    assert reaches(made, port=9999, pod=Pod("hub-ns", {"app": "db"}, "10.244.0.11"))


def test_disabled_means_no_policy():
    assert policy(enabled=False) is None


# -- bad settings: one line that says what is wrong ---------------------------------


def issue_of(tmp_path: Path, egress: dict[str, Any]) -> str:
    path = tmp_path / "workspaces.yaml"
    path.write_text(yaml.safe_dump({"kubernetes": {"egress": egress}}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [issue] = [str(i) for i in info.value.issues]
    return issue


@pytest.mark.parametrize("allow, message", [
    ({"ports": [{"port": 53}]}, "give either cidr (addresses) or namespace (pods of a namespace), not both"),
    ({"cidr": "10.0.0.0/8", "namespace": "db"}, "give either cidr (addresses) or namespace (pods of a namespace), not both"),
    ({"cidr": "10.0.0.0/8", "except": ["11.0.0.0/24"]}, "except 11.0.0.0/24 is not inside cidr 10.0.0.0/8"),
    ({"cidr": "10.0.0.1/8"}, "has host bits set"),
    ({"namespace": "db", "except": ["10.0.0.0/8"]}, "except is for cidr"),
    ({"namespace": "Db"}, "namespace 'Db' is not a DNS-1123 label"),
    ({"namespace": "db", "pod_labels": {"app": "a b"}}, "label value 'a b' is not a label value"),
    ({"cidr": "10.0.0.0/8", "ports": [{"port": 70000}]}, "port: must be <= 65535"),
    ({"cidr": "10.0.0.0/8", "ports": [{"port": 53, "protocol": "ICMP"}]}, "protocol: must be one of: 'TCP', 'UDP', 'SCTP'"),
])
def test_a_bad_allow_rule_is_refused_with_what_is_wrong(tmp_path, allow, message):
    issue = issue_of(tmp_path, {"allow": [allow]})
    assert issue.startswith("kubernetes.egress.allow[0]")
    assert message in issue
    assert "\n" not in issue


def test_an_unknown_egress_key_is_refused(tmp_path):
    assert "private_ip" in issue_of(tmp_path, {"private_ip": True})
