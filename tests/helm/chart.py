"""Render the chart in helm/ with the real Helm binary (unpacked by `make install`), or install it on a cluster."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..support.hub import REPO

CHART = REPO / "helm"
HELM = REPO / "node_modules" / ".bin" / "helm"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
NAMESPACE = "workspaces-system"

# name -> helm arguments: the defaults, each example values file, and the namespace-template mode
VALUES: dict[str, list[str]] = {"default": []}
VALUES.update({path.stem: ["-f", str(path)] for path in EXAMPLES})
VALUES["namespace-template"] = ["--set", "workspaces.kubernetes.namespace_template=ws-{username}"]
VALUES["subdomains"] = ["--set", "hub.subdomainHost=https://hub.example.org"]

# name -> helm arguments: each egress toggle of workspaces.kubernetes.egress (helm/README.md, "Network")
EGRESS: dict[str, list[str]] = {
    "default": [],
    "kubeflow": VALUES["kubeflow"],
    "private ips": ["--set", "workspaces.kubernetes.egress.private_ips=true"],
    "cloud metadata": ["--set", "workspaces.kubernetes.egress.cloud_metadata=true"],
    "both": ["--set", "workspaces.kubernetes.egress.private_ips=true,workspaces.kubernetes.egress.cloud_metadata=true"],
    "allow": ["--set-json", 'workspaces.kubernetes.egress.allow=[{"cidr": "10.20.0.0/16", "except": ["10.20.9.0/24"], '
              '"ports": [{"port": 5432}]}, {"namespace": "mlflow", "pod_labels": {"app": "mlflow"}, '
              '"ports": [{"port": 5000, "protocol": "TCP"}]}]'],
}

# Kubeflow mode's Istio objects: no official Kubernetes schema; on the cluster, tests/data/istio-crds.yaml
ISTIO_KINDS = {"VirtualService", "AuthorizationPolicy"}


def helm(*args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run Helm; with ``kubeconfig``, against that cluster (the environment of the tests is left as it is)."""
    assert HELM.exists(), f"{HELM} is missing: run `make install`"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)} if kubeconfig else None
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=60, env=env)


def manifest_objects(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream, as `helm template` and `helm get manifest` print them."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(*args: str) -> list[dict[str, Any]]:
    done = helm("template", "ws", str(CHART), "--namespace", NAMESPACE, *args)
    assert done.returncode == 0, done.stderr
    return manifest_objects(done.stdout)


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def role_in_release_namespace(objects: list[dict[str, Any]], roles: list[dict[str, Any]]) -> dict[str, Any]:
    """The one Role of ``roles`` (picked from ``objects``), checked to be bound in the release namespace."""
    [role] = roles
    assert role["metadata"]["namespace"] == NAMESPACE
    [binding] = [b for b in of_kind(objects, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
    assert binding["metadata"]["namespace"] == NAMESPACE
    return role


def workspaces_yaml(objects: list[dict[str, Any]]) -> str:
    [config_map] = of_kind(objects, "ConfigMap")
    return config_map["data"]["workspaces.yaml"]


def egress_policy_of(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The NetworkPolicy the hub writes where workspaces run, from the rendered workspaces.yaml."""
    from spawner.egress import egress_policy
    from workspaces.config import WorkspacesConfig

    config = yaml.safe_load(workspaces_yaml(objects))
    return egress_policy(WorkspacesConfig.model_validate({"hub": config["hub"], "kubernetes": config["kubernetes"]}))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@dataclass
class Release:
    """A release of the chart on a live cluster, driven by the real Helm (where ``lookup`` sees the cluster)."""

    name: str
    namespace: str
    kubeconfig: Path
    values: list[str]
    on_cluster: bool = False  # from an install (even a failed one) to an uninstall

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return helm(*args, "--namespace", self.namespace, kubeconfig=self.kubeconfig)

    def _succeed(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"helm {args[0]} failed:\n{done.stderr}"
        return done.stdout

    def install(self, *extra: str) -> Release:
        self.on_cluster = True
        self._succeed("install", self.name, str(CHART), *self.values, *extra)
        return self

    def upgrade(self, *extra: str) -> None:
        self._succeed("upgrade", self.name, str(CHART), *self.values, *extra)

    def uninstall(self) -> None:
        self._succeed("uninstall", self.name)
        self.on_cluster = False

    def manifest(self) -> list[dict[str, Any]]:
        """The objects of the release as Helm installed them (namespaced ones without a namespace are in the release's)."""
        return manifest_objects(self._succeed("get", "manifest", self.name))

    def object_name(self, part: str) -> str:
        """The name the chart gives a part (hub, proxy, secret...), for a release name without the chart's name in it."""
        return f"{self.name}-workspaces-{part}"
