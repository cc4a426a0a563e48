"""The NetworkPolicy egress evaluator of the tests (tests/support/network_policy.py), against the documented semantics."""

from __future__ import annotations

from typing import Any

import pytest

from ..support.network_policy import Destination, Pod, egress_allowed, selects

NAMESPACES = {
    "team": {"kubernetes.io/metadata.name": "team", "tier": "users"},
    "other": {"kubernetes.io/metadata.name": "other", "tier": "users"},
    "kube-system": {"kubernetes.io/metadata.name": "kube-system"},
}
WORKSPACE = Pod("team", {"app": "workspace"}, "10.1.0.5")
DNS = Pod("kube-system", {"k8s-app": "kube-dns"}, "10.1.9.9", {"dns": (53, "UDP")})


def policy(spec: dict[str, Any], namespace: str = "team", selector: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": namespace},
            "spec": {"podSelector": {"matchLabels": {"app": "workspace"}} if selector is None else selector, **spec}}


def to_ip(ip: str, port: int = 443, protocol: str = "TCP") -> Destination:
    return Destination(port, protocol, ip=ip)


def to_pod(pod: Pod, port: int = 80, protocol: str = "TCP") -> Destination:
    return Destination(port, protocol, pod=pod)


def allowed(policies: list[dict[str, Any]], to: Destination, pod: Pod = WORKSPACE) -> bool:
    return egress_allowed(policies, pod, to, NAMESPACES)


# -- who is isolated -------------------------------------------------------------


def test_a_pod_no_policy_selects_may_reach_anything():
    assert allowed([], to_ip("169.254.169.254", 80))


def test_an_ingress_only_policy_leaves_egress_open():
    assert allowed([policy({"policyTypes": ["Ingress"], "ingress": []})], to_ip("169.254.169.254", 80))


def test_policy_types_default_to_ingress_only_without_egress_rules():
    assert allowed([policy({"ingress": []})], to_ip("8.8.8.8"))


def test_policy_types_default_to_egress_too_with_egress_rules():
    only_dns = policy({"egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]})
    assert not allowed([only_dns], to_ip("8.8.8.8", 443))
    assert allowed([only_dns], to_ip("8.8.8.8", 53, "UDP"))


def test_an_egress_policy_with_no_rules_denies_everything():
    assert not allowed([policy({"policyTypes": ["Egress"]})], to_ip("8.8.8.8"))


def test_a_policy_that_does_not_select_the_pod_leaves_it_open():
    other_pods = policy({"policyTypes": ["Egress"]}, selector={"matchLabels": {"app": "db"}})
    assert allowed([other_pods], to_ip("8.8.8.8"))


def test_a_policy_of_another_namespace_leaves_the_pod_open():
    assert allowed([policy({"policyTypes": ["Egress"]}, namespace="other")], to_ip("8.8.8.8"))


def test_an_empty_pod_selector_selects_every_pod_of_the_namespace():
    assert not allowed([policy({"policyTypes": ["Egress"]}, selector={})], to_ip("8.8.8.8"))


def test_policies_add_up():
    dns = policy({"policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]})
    web = policy({"policyTypes": ["Egress"], "egress": [{"ports": [{"port": 443}]}]})
    assert allowed([dns, web], to_ip("8.8.8.8", 53, "UDP"))
    assert allowed([dns, web], to_ip("8.8.8.8", 443))
    assert not allowed([dns, web], to_ip("8.8.8.8", 80))


def test_an_empty_rule_allows_everything():
    assert allowed([policy({"policyTypes": ["Egress"], "egress": [{}]})], to_ip("169.254.169.254", 80))


# -- ipBlock -----------------------------------------------------------------------

EVERYWHERE_BUT_PRIVATE = policy({"policyTypes": ["Egress"], "egress": [{"to": [
    {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.0.0/16"]}},
    {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7"]}},
]}]})


@pytest.mark.parametrize("ip, reachable", [
    ("8.8.8.8", True),
    ("169.254.169.254", False),  # in an except
    ("10.20.30.40", False),
    ("11.0.0.1", True),  # just outside 10/8
    ("2001:4860:4860::8888", True),
    ("fd00:ec2::254", False),
])
def test_an_ip_block_allows_its_cidr_but_not_its_exceptions(ip, reachable):
    assert allowed([EVERYWHERE_BUT_PRIVATE], to_ip(ip)) is reachable


def test_an_ipv4_block_does_not_match_ipv6_addresses():
    v4_only = policy({"policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})
    assert not allowed([v4_only], to_ip("2001:db8::1"))


def test_an_ip_block_matches_a_pods_address():
    assert not allowed([EVERYWHERE_BUT_PRIVATE], to_pod(Pod("other", {}, "10.1.0.7")))
    assert allowed([EVERYWHERE_BUT_PRIVATE], to_pod(Pod("other", {}, "8.8.4.4")))


# -- pod and namespace selectors ---------------------------------------------------


def selecting(peer: dict[str, Any]) -> dict[str, Any]:
    return policy({"policyTypes": ["Egress"], "egress": [{"to": [peer]}]})


def test_a_pod_selector_alone_selects_pods_of_the_policys_namespace():
    same = selecting({"podSelector": {"matchLabels": {"app": "db"}}})
    assert allowed([same], to_pod(Pod("team", {"app": "db"})))
    assert not allowed([same], to_pod(Pod("other", {"app": "db"})))
    assert not allowed([same], to_pod(Pod("team", {"app": "web"})))


def test_a_namespace_selector_alone_selects_every_pod_of_those_namespaces():
    system = selecting({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}})
    assert allowed([system], to_pod(DNS))
    assert not allowed([system], to_pod(Pod("team", {"k8s-app": "kube-dns"})))


def test_an_empty_namespace_selector_selects_pods_of_every_namespace():
    assert allowed([selecting({"namespaceSelector": {}})], to_pod(Pod("other", {"x": "y"})))


def test_both_selectors_select_those_pods_in_those_namespaces():
    both = selecting({"namespaceSelector": {"matchLabels": {"tier": "users"}}, "podSelector": {"matchLabels": {"app": "hub"}}})
    assert allowed([both], to_pod(Pod("other", {"app": "hub"})))
    assert not allowed([both], to_pod(Pod("other", {"app": "db"})))
    assert not allowed([both], to_pod(Pod("kube-system", {"app": "hub"})))


def test_selectors_never_match_a_bare_address():
    assert not allowed([selecting({"namespaceSelector": {}})], to_ip("8.8.8.8"))


@pytest.mark.parametrize("requirement, labels, held", [
    ({"key": "tier", "operator": "In", "values": ["a", "b"]}, {"tier": "b"}, True),
    ({"key": "tier", "operator": "In", "values": ["a"]}, {}, False),
    ({"key": "tier", "operator": "NotIn", "values": ["a"]}, {}, True),
    ({"key": "tier", "operator": "NotIn", "values": ["a"]}, {"tier": "a"}, False),
    ({"key": "tier", "operator": "Exists"}, {"tier": ""}, True),
    ({"key": "tier", "operator": "DoesNotExist"}, {"tier": "a"}, False),
])
def test_match_expressions(requirement, labels, held):
    assert selects({"matchExpressions": [requirement]}, labels) is held


def test_match_labels_and_expressions_must_all_hold():
    selector = {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]}
    assert selects(selector, {"a": "1", "b": "2"})
    assert not selects(selector, {"a": "1"})


# -- ports -------------------------------------------------------------------------


def on_ports(*ports: dict[str, Any]) -> dict[str, Any]:
    return policy({"policyTypes": ["Egress"], "egress": [{"ports": list(ports)}]})


def test_a_port_without_protocol_is_tcp():
    assert allowed([on_ports({"port": 53})], to_ip("8.8.8.8", 53, "TCP"))
    assert not allowed([on_ports({"port": 53})], to_ip("8.8.8.8", 53, "UDP"))


def test_an_end_port_makes_a_range():
    assert allowed([on_ports({"port": 8000, "endPort": 8100})], to_ip("8.8.8.8", 8081))
    assert not allowed([on_ports({"port": 8000, "endPort": 8100})], to_ip("8.8.8.8", 8101))


def test_a_named_port_matches_the_destination_pods_port_of_that_name():
    named = on_ports({"port": "dns", "protocol": "UDP"})
    assert allowed([named], to_pod(DNS, 53, "UDP"))
    assert not allowed([named], to_pod(DNS, 54, "UDP"))
    assert not allowed([named], to_ip("10.1.9.9", 53, "UDP"))  # an address has no named ports


def test_a_protocol_without_a_port_is_every_port_of_it():
    assert allowed([on_ports({"protocol": "UDP"})], to_ip("8.8.8.8", 9999, "UDP"))


def test_peers_and_ports_of_one_rule_must_both_match():
    rule = policy({"policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 5432}]}]})
    assert allowed([rule], to_ip("10.0.0.1", 5432))
    assert not allowed([rule], to_ip("10.0.0.1", 22))
    assert not allowed([rule], to_ip("8.8.8.8", 5432))


def test_pod_reads_a_pod_as_the_api_server_gives_it():
    pod = Pod.of({"metadata": {"namespace": "ns", "labels": {"a": "b"}}, "status": {"podIP": "10.0.0.3"},
                  "spec": {"containers": [{"ports": [{"name": "hub", "containerPort": 8081}]}]}})
    assert pod == Pod("ns", {"a": "b"}, "10.0.0.3", {"hub": (8081, "TCP")})
