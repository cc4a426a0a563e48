"""The cluster the Kubernetes tests share: the real control plane, simulated
nodes (two for CPU, one with four GPUs), a simulated provisioner and its
storage classes, and Kubeflow's CRDs and contributor roles.

Tests share one per session and keep apart by namespace.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any

import yaml

from .cluster import ControlPlane, Kube, KubeError, wait_until
from .kubelet import PROVISIONER, Kubelet, Node, Provisioner

DATA = Path(__file__).resolve().parents[1] / "data"
RBAC = Path(__file__).resolve().parents[2] / "config" / "kubernetes" / "rbac.yaml"
HUB_NAMESPACE, HUB_ACCOUNT = "workspaces", "hub"  # as config/kubernetes/rbac.yaml binds them
RBAC_PLURALS = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings", "Role": "roles",
                "RoleBinding": "rolebindings"}
METHODS = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}

NODES = [
    Node("cpu-1"),
    Node("cpu-2"),
    Node(
        "gpu-1",
        cpu="16",
        memory="64Gi",
        extended={"nvidia.com/gpu": "4"},
        labels={"nvidia.com/gpu.present": "true", "gpu.model": "h100", "zone": "a"},
        taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
    ),
]
GPUS = 4  # on gpu-1, the only GPU node

# the default class, a named one, and one whose provisioning always fails
STORAGE_CLASSES = {
    "standard": {"default": True},
    "fast": {},
    "broken": {"parameters": {"failure": "no capacity left in pool ssd-1"}},
}


def storage_class(name: str, default: bool = False, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": False,
        **({"parameters": parameters} if parameters else {}),
    }


class AuditLog:
    """The API server's audit log: who asked for what (metadata of every request)."""

    def __init__(self, path: Path):
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def requests(self, admin: Kube, user: str, since: int = 0) -> list[tuple[str, str, str]]:
        """(method, path, query) of each request ``user`` made after ``since``.

        A request's entry is written as its answer completes; a marker
        request sent now and found in the log shows that the entries of every
        request answered before it are there too.
        """
        marker = uuid.uuid4().hex
        admin.request("GET", "/version", params={"mark": marker})
        wait_until(lambda: marker in self._tail(), 10, "the audit log to catch up")
        seen: set[str] = set()
        found = []
        with open(self.path) as log:
            log.seek(since)
            for line in log:
                event = json.loads(line)
                if event["user"]["username"] != user or event["auditID"] in seen:
                    continue
                if event["stage"] == "ResponseComplete" or (event["stage"] == "ResponseStarted" and event["verb"] == "watch"):
                    seen.add(event["auditID"])
                    uri = urlsplit(event["requestURI"])
                    found.append((METHODS.get(event["verb"], "GET"), uri.path, uri.query))
        return found

    def _tail(self, size: int = 1 << 16) -> str:
        with open(self.path, "rb") as log:
            log.seek(max(0, log.seek(0, 2) - size))
            return log.read().decode(errors="replace")


class Cluster:
    """A running test cluster: ``admin`` (a Kube client), ``kubelet``, ``provisioner``."""

    def __init__(self, directory: Path | None = None):
        self.plane = ControlPlane(directory)
        self.kubelet: Kubelet | None = None
        self.provisioner: Provisioner | None = None

    @property
    def url(self) -> str:
        return self.plane.url

    def start(self) -> Cluster:
        self.plane.start()
        self.audit = AuditLog(self.plane.dir / "audit.log")
        try:
            self.admin = self.plane.admin()
            self._install()
            self.provisioner = Provisioner(self.plane).start()
            self.kubelet = Kubelet(self.plane, NODES).start()
            wait_until(self._nodes_schedulable, 90, "the simulated nodes to be Ready and untainted")
        except BaseException:
            self.stop()
            raise
        return self

    def _install(self) -> None:
        for name, options in STORAGE_CLASSES.items():
            self.admin.apply("storageclasses", storage_class(name, **options))
        for doc in yaml.safe_load_all((DATA / "kubeflow-crds.yaml").read_text()):
            plural = "customresourcedefinitions" if doc["kind"] == "CustomResourceDefinition" else "clusterroles"
            self.admin.apply(plural, doc)
        for crd in ("profiles.kubeflow.org", "poddefaults.kubeflow.org"):
            wait_until(lambda: self.established(crd), 30, f"CRD {crd}")

    def established(self, crd: str) -> bool:
        """Whether the API server serves the custom resource ``crd`` (plural.group) yet."""
        # a CRD just made may have "conditions": null
        conditions = self.admin.get("customresourcedefinitions", crd).get("status", {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    def _nodes_schedulable(self) -> bool:
        """Every node Ready, without the not-ready taint the admission plugin put on it at registration."""
        for node in self.admin.list("nodes"):
            taints = {t["key"] for t in node["spec"].get("taints") or []}
            if "node.kubernetes.io/not-ready" in taints:
                return False
        return len(self.admin.list("nodes")) == len(NODES)

    # -- the hub's identity ------------------------------------------------------

    def hub(self) -> Kube:
        """The hub's ServiceAccount with exactly the rules of config/kubernetes/rbac.yaml, and a token for it."""
        if getattr(self, "_hub", None) is None:
            self.admin.namespace(HUB_NAMESPACE)
            self.admin.apply("serviceaccounts", {"metadata": {"name": HUB_ACCOUNT, "namespace": HUB_NAMESPACE}})
            for doc in yaml.safe_load_all(RBAC.read_text()):
                self.admin.apply(RBAC_PLURALS[doc["kind"]], doc)
            self._hub = self.admin.as_token(self.admin.request_token(HUB_NAMESPACE, HUB_ACCOUNT))
        return self._hub

    @property
    def hub_user(self) -> str:
        return f"system:serviceaccount:{HUB_NAMESPACE}:{HUB_ACCOUNT}"

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        """What a spawner under test loads: the hub's identity."""
        return self.hub().kubeconfig(namespace)

    # -- what is there, and what was asked -----------------------------------------

    def items(self, plural: str, namespace: str | None = None, **params: str) -> list[dict[str, Any]]:
        return self.admin.list(plural, namespace, **params)

    def audit_mark(self) -> int:
        """A point in the audit log; ``requests(since=mark)`` reads what came after."""
        return self.audit.mark()

    def requests(self, user: str | None = None, since: int = 0) -> list[tuple[str, str, str]]:
        """(method, path, query) of each request ``user`` (default: the hub) made after ``since``."""
        return self.audit.requests(self.admin, user or self.hub_user, since)

    def namespace(self, prefix: str = "t", labels: dict[str, str] | None = None) -> str:
        """A fresh namespace, ready for pods."""
        return self.admin.namespace(f"{prefix}-{uuid.uuid4().hex[:8]}", labels)

    def service_account(self, namespace: str, name: str, rules: list[dict[str, Any]] | None = None,
                        cluster_rules: list[dict[str, Any]] | None = None) -> Kube:
        """A ServiceAccount holding ``rules`` in its namespace and ``cluster_rules`` everywhere; a client with its token."""
        admin = self.admin
        admin.apply("serviceaccounts", {"metadata": {"name": name, "namespace": namespace}})
        subject = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
        if rules:
            admin.apply("roles", {"metadata": {"name": name, "namespace": namespace}, "rules": rules})
            admin.apply("rolebindings", {"metadata": {"name": name, "namespace": namespace}, "subjects": subject,
                                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}})
        if cluster_rules:
            role = f"{namespace}-{name}"
            admin.apply("clusterroles", {"metadata": {"name": role}, "rules": cluster_rules})
            admin.apply("clusterrolebindings", {"metadata": {"name": role}, "subjects": subject,
                                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}})
        return admin.as_token(admin.request_token(namespace, name))

    def gpus_free(self) -> int:
        """GPUs that no live pod holds."""
        used = 0
        for pod in self.admin.list("pods"):
            if pod["spec"].get("nodeName") and not pod["metadata"].get("deletionTimestamp") \
                    and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                for c in pod["spec"]["containers"]:
                    used += int((c.get("resources", {}).get("limits") or {}).get("nvidia.com/gpu", 0))
        return GPUS - used

    def delete_namespace(self, name: str) -> None:
        try:
            self.admin.delete("namespaces", name)
        except KubeError:
            pass

    def stop(self) -> None:
        for part in (self.kubelet, self.provisioner):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    pass
        self.plane.stop()


def main() -> None:
    """`make cluster`: the test cluster in the foreground until Ctrl-C."""
    import argparse
    import shutil
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--dir", type=Path, default=Path(".cluster"), help="where certificates, kubeconfigs and logs go")
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    cluster = Cluster(args.dir.resolve())
    print("starting the control plane (etcd, kube-apiserver, kube-scheduler, kube-controller-manager)...", flush=True)
    cluster.start()
    hub = cluster.hub().write_kubeconfig(args.dir.resolve() / "hub.kubeconfig")
    print(f"ready at {cluster.url}, with nodes {', '.join(n.name for n in NODES)} and storage classes "
          f"{', '.join(STORAGE_CLASSES)}\n"
          f"  the admin:  export KUBECONFIG={cluster.plane.kubeconfig_path}\n"
          f"  the hub's ServiceAccount (config/kubernetes/rbac.yaml): export KUBECONFIG={hub}\n"
          "Ctrl-C stops it.", flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        print("stopping...", flush=True)
        cluster.stop()


if __name__ == "__main__":
    main()
