"""Attacks from inside a workspace on Kubernetes: what its code can reach on the network.

A workspace runs its user's code. Without an egress policy it reaches the
cloud metadata server (169.254.169.254: the node's credentials) and every
internal service. The hub now writes a NetworkPolicy in each namespace where
it runs workspaces; the chart tells it where the hub's pods are.

Each mode is set up as a deployment has it: the chart installed with the real
Helm on the real control plane (the hub's pod scheduled, its workspaces.yaml in
a ConfigMap), a workspace started by the spawner with that workspaces.yaml,
as the hub's ServiceAccount, into the namespace the mode chooses (the
release's, a user's from the template, a Kubeflow profile's). The
NetworkPolicies are read back from the API server. No CNI runs here, so
tests/support/network_policy.py says what one would let through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..helm.chart import VALUES, Release, workspaces_yaml
from ..helm.test_chart_on_cluster import istio  # noqa: F401 (fixture: Istio's CRDs for Kubeflow mode's chart)
from ..k8s.conftest import RESTRICTED
from ..k8s.kube import Kubeflow, make_spawner, run, unique, write_config
from ..support.cluster import wait_until
from ..support.network_policy import Destination, Pod, egress_allowed

METADATA = "169.254.169.254"
INTERNAL_DATABASE = "10.20.30.40"  # a private address: a Service, a VM of the VPC, a node
PUBLIC = "8.8.8.8"
POD_NETWORK_ADDRESS = "10.244.1.7"
DNS_POD = Pod("kube-system", {"k8s-app": "kube-dns"}, "10.244.0.3")
TIMEOUT = 60


@dataclass
class Workspace:
    """A running workspace, and what the API server holds about the network around it."""

    pod: Pod
    hub: Pod
    policies: list[dict[str, Any]]
    namespaces: dict[str, dict[str, str]]

    def reaches(self, to: Destination) -> bool:
        return egress_allowed(self.policies, self.pod, to, self.namespaces)

    def reaches_address(self, ip: str, port: int, protocol: str = "TCP") -> bool:
        return self.reaches(Destination(port, protocol, ip=ip))


def network_of(cluster, pod: dict[str, Any], hub: dict[str, Any]) -> Workspace:
    namespace = pod["metadata"]["namespace"]
    return Workspace(
        pod=Pod.of(pod),
        # the simulated kubelet gives pods loopback addresses; a cluster's pod network is a private range
        hub=replace(Pod.of(hub), ip=POD_NETWORK_ADDRESS),
        policies=cluster.admin.list("networkpolicies", namespace),
        namespaces={n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in cluster.admin.list("namespaces")},
    )


def hub_pod(cluster, namespace: str) -> dict[str, Any]:
    """The chart's hub pod once the simulated kubelet runs it (its labels and ports are what policies select)."""

    def running() -> dict[str, Any] | None:
        pods = cluster.admin.list("pods", namespace, labelSelector="app.kubernetes.io/component=hub")
        return next((p for p in pods if p["status"].get("phase") == "Running"), None)

    return wait_until(running, TIMEOUT, f"the hub's pod in {namespace}")


@pytest.fixture(scope="module")
def deploy(cluster, tmp_path_factory) -> Iterator[Callable[..., Workspace]]:
    """deploy(values, *helm_args): the chart installed, one workspace started with its workspaces.yaml."""
    made: list[Callable[[], None]] = []

    def deploy(values: str, *helm_args: str) -> Workspace:
        root = tmp_path_factory.mktemp("egress")
        release = Release("ws", cluster.namespace("egress", RESTRICTED), cluster.admin.write_kubeconfig(root / "kubeconfig"),
                          VALUES[values])
        made.append(lambda: release.run("uninstall", release.name))
        release.install(*helm_args)
        config_map = cluster.admin.get("configmaps", release.object_name("hub"), release.namespace)
        kubernetes = yaml.safe_load(workspaces_yaml([config_map]))["kubernetes"]
        user = f"{unique('eve')}@example.com"
        if kubernetes.get("kubeflow"):
            kubeflow = Kubeflow(cluster, RESTRICTED)
            kubeflow.profile("eve", user)
            made.append(kubeflow.remove)
        # the chart's workspaces.yaml, with the tests' catalog and profiles
        config = write_config(root, **kubernetes)

        async def start():
            s = make_spawner(config, cluster, user=user, server="notebook")
            s.apply_spec({"image": "lab", "profile": "small"})
            await s.start()
            return s

        s = run(start)
        if kubernetes.get("namespace_template"):
            made.append(lambda: cluster.delete_namespace(s.namespace))
        pod = cluster.admin.get("pods", s.pod_name, s.namespace)
        return network_of(cluster, pod, hub_pod(cluster, release.namespace))

    yield deploy
    for undo in reversed(made):
        undo()


MODES = {"one namespace": ("default",), "namespace template": ("namespace-template",), "kubeflow": ("kubeflow",)}


@pytest.fixture(scope="module", params=MODES)
def workspace(request, deploy, istio) -> Workspace:
    """A workspace of each mode (Kubeflow mode's chart has Istio objects: ``istio`` brings their CRDs)."""
    return deploy(*MODES[request.param])


# -- by default ------------------------------------------------------------------


def test_a_workspace_cannot_reach_the_cloud_metadata_server(workspace):
    assert not workspace.reaches_address(METADATA, 80)
    assert not workspace.reaches_address("fd00:ec2::254", 80)


def test_a_workspace_cannot_reach_a_private_address(workspace):
    assert not workspace.reaches_address(INTERNAL_DATABASE, 5432)
    assert not workspace.reaches_address("192.168.1.1", 10250)  # a node's kubelet


def test_a_workspace_reaches_dns(workspace):
    for protocol in ("UDP", "TCP"):
        assert workspace.reaches(Destination(53, protocol, pod=DNS_POD))
        assert workspace.reaches_address("169.254.20.10", 53, protocol)  # a node-local DNS cache


def test_a_workspace_reaches_the_hubs_api_and_only_that_port_of_the_hub(workspace):
    assert workspace.reaches(Destination(8081, pod=workspace.hub))
    assert not workspace.reaches(Destination(8003, pod=workspace.hub))  # the workspaces API: through the proxy


def test_a_workspace_reaches_the_internet(workspace):
    assert workspace.reaches_address(PUBLIC, 443)
    assert workspace.reaches_address("2001:4860:4860::8888", 443)


# -- the chart's toggles -----------------------------------------------------------


def test_with_private_ips_a_workspace_reaches_private_addresses_but_still_not_the_metadata_server(deploy):
    workspace = deploy("default", "--set", "workspaces.kubernetes.egress.private_ips=true")
    assert workspace.reaches_address(INTERNAL_DATABASE, 5432)
    assert not workspace.reaches_address(METADATA, 80)


def test_with_cloud_metadata_a_workspace_reaches_the_metadata_server_but_not_private_addresses(deploy):
    workspace = deploy("default", "--set", "workspaces.kubernetes.egress.cloud_metadata=true")
    assert workspace.reaches_address(METADATA, 80)
    assert not workspace.reaches_address(INTERNAL_DATABASE, 5432)


def test_an_allow_rule_opens_exactly_its_address_and_port(deploy, tmp_path):
    values = tmp_path / "allow.yaml"
    values.write_text(yaml.safe_dump({"workspaces": {"kubernetes": {"egress": {"allow": [
        {"cidr": "10.20.30.0/24", "except": ["10.20.30.128/25"], "ports": [{"port": 5432}]}]}}}}))
    workspace = deploy("default", "-f", str(values))
    assert workspace.reaches_address(INTERNAL_DATABASE, 5432)
    assert not workspace.reaches_address(INTERNAL_DATABASE, 22)
    assert not workspace.reaches_address("10.20.30.200", 5432)


def test_without_network_policies_egress_is_open(deploy):
    workspace = deploy("default", "--set", "networkPolicy.enabled=false")
    assert workspace.reaches_address(METADATA, 80)
