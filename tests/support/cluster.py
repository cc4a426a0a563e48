"""A real Kubernetes control plane for the tests, and a plain REST client for it.

``ControlPlane`` runs ``build/controlplane up`` (etcd, kube-apiserver,
kube-scheduler and kube-controller-manager built from the official Go
modules; see tests/controlplane/) in a temp directory and waits for its
"ready" line. The control plane stops when this process closes its stdin, so
a test run that dies leaves nothing behind.

``Kube`` speaks to the API server as one identity: the admin (a client
certificate in ``system:masters``) or a ServiceAccount token from the
TokenRequest API, as the hub's pod would have.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import threading
from functools import partial
from pathlib import Path
from typing import Any

import requests
import yaml

from .hub import wait_for

# the control plane answers within milliseconds: look twice as often as for a hub
wait_until = partial(wait_for, interval=0.1)

REPO = Path(__file__).resolve().parents[2]
CONTROLPLANE = REPO / "build" / "controlplane"
READY_TIMEOUT = 240  # a cold start on 2 busy cores, bootstrap RBAC included

# plural -> API group path
GROUPS = {
    **dict.fromkeys(
        [
            "pods", "persistentvolumeclaims", "persistentvolumes", "services", "namespaces", "events", "nodes",
            "secrets", "serviceaccounts", "resourcequotas", "limitranges", "configmaps", "endpoints",
        ],
        "/api/v1",
    ),
    "storageclasses": "/apis/storage.k8s.io/v1",
    **dict.fromkeys(["roles", "rolebindings", "clusterroles", "clusterrolebindings"], "/apis/rbac.authorization.k8s.io/v1"),
    "leases": "/apis/coordination.k8s.io/v1",
    "customresourcedefinitions": "/apis/apiextensions.k8s.io/v1",
    "priorityclasses": "/apis/scheduling.k8s.io/v1",
    "networkpolicies": "/apis/networking.k8s.io/v1",
    "poddisruptionbudgets": "/apis/policy/v1",
    "deployments": "/apis/apps/v1",
    "daemonsets": "/apis/apps/v1",
    "profiles": "/apis/kubeflow.org/v1",
    "poddefaults": "/apis/kubeflow.org/v1alpha1",
}
CLUSTER_SCOPED = {
    "namespaces", "nodes", "persistentvolumes", "storageclasses", "clusterroles", "clusterrolebindings",
    "customresourcedefinitions", "priorityclasses", "profiles",
}


def path(plural: str, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    """The REST path of a collection or an object."""
    parts = [GROUPS[plural]]
    if namespace is not None and plural not in CLUSTER_SCOPED:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name is not None:
        parts.append(name)
    if sub is not None:
        parts.append(sub)
    return "/".join(p.strip("/") for p in parts).join(["/", ""])


class KubeError(Exception):
    """A refusal by the API server, with its Status."""

    def __init__(self, code: int, status: dict[str, Any]):
        self.code = code
        self.status = status
        self.reason = status.get("reason", "")
        super().__init__(f"{code} {self.reason}: {status.get('message', '')}")


class Kube:
    """Synchronous REST access to the API server as one identity."""

    def __init__(self, url: str, ca_file: str, *, cert: tuple[str, str] | None = None, token: str | None = None):
        self.url = url
        self.ca_file = ca_file
        self.token = token
        self.session = requests.Session()
        if cert:
            self.session.cert = cert
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, url_path: str, body: Any = None, *, params: dict | None = None,
                content_type: str = "application/json", timeout: float = 30) -> dict[str, Any]:
        data = json.dumps(body) if body is not None else None
        # verify per request: a session's own is overridden by $REQUESTS_CA_BUNDLE
        r = self.session.request(
            method, self.url + url_path, data=data, params=params, timeout=timeout, headers={"Content-Type": content_type},
            verify=self.ca_file,
        )
        try:
            answer = r.json()
        except ValueError:
            answer = {"message": r.text}
        if r.status_code >= 400:
            raise KubeError(r.status_code, answer)
        return answer

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self.request("GET", path(plural, namespace, name))

    def find(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None where there is none."""
        try:
            return self.get(plural, name, namespace)
        except KubeError as e:
            if e.code == 404:
                return None
            raise

    def list(self, plural: str, namespace: str | None = None, **params: str) -> list[dict[str, Any]]:
        return self.request("GET", path(plural, namespace), params=params)["items"]

    def create(self, plural: str, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        namespace = namespace or body.get("metadata", {}).get("namespace")
        return self.request("POST", path(plural, namespace), body)

    def apply(self, plural: str, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create, or replace what is there under the same name."""
        try:
            return self.create(plural, body, namespace)
        except KubeError as e:
            if e.code != 409:
                raise
        namespace = namespace or body["metadata"].get("namespace")
        current = self.get(plural, body["metadata"]["name"], namespace)
        body = {**body, "metadata": {**body["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
        return self.request("PUT", path(plural, namespace, body["metadata"]["name"]), body)

    def patch(self, plural: str, name: str, patch: dict[str, Any], namespace: str | None = None,
              sub: str | None = None) -> dict[str, Any]:
        return self.request("PATCH", path(plural, namespace, name, sub), patch, content_type="application/merge-patch+json")

    def delete(self, plural: str, name: str, namespace: str | None = None, **params: Any) -> dict[str, Any] | None:
        """Delete; None where there was nothing."""
        try:
            return self.request("DELETE", path(plural, namespace, name), params=params or None)
        except KubeError as e:
            if e.code == 404:
                return None
            raise

    def wait_gone(self, plural: str, name: str, namespace: str | None = None, timeout: float = 60) -> None:
        wait_until(lambda: self.find(plural, name, namespace) is None, timeout, f"{plural} {namespace}/{name} to go")

    # -- namespaces and identities ---------------------------------------------

    def namespace(self, name: str, labels: dict[str, str] | None = None) -> str:
        """Create a namespace and wait for its default ServiceAccount (pods are refused before it)."""
        self.apply("namespaces", {"metadata": {"name": name, "labels": labels or {}}})
        wait_until(lambda: self.find("serviceaccounts", "default", name), 60, f"the default ServiceAccount in {name}")
        return name

    def request_token(self, namespace: str, service_account: str, seconds: int = 3600) -> str:
        """A token for the ServiceAccount, from the TokenRequest API."""
        answer = self.request(
            "POST", path("serviceaccounts", namespace, service_account, "token"),
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}},
        )
        return answer["status"]["token"]

    def as_token(self, token: str) -> Kube:
        return Kube(self.url, self.ca_file, token=token)

    def as_user(self, user: str, groups: tuple[str, ...] = ()) -> Kube:
        """The same admin client impersonating ``user`` (and ``groups``)."""
        other = Kube(self.url, self.ca_file, cert=self.session.cert, token=self.token)
        other.session.headers["Impersonate-User"] = user
        if groups:
            # requests sends one header per value only through a list of tuples; one is enough here
            other.session.headers["Impersonate-Group"] = groups[0]
        return other

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        """A kubeconfig carrying this client's identity (certificate or token)."""
        user: dict[str, Any] = {}
        if self.token:
            user["token"] = self.token
        elif self.session.cert:
            cert, key = self.session.cert
            user["client-certificate-data"] = _b64(Path(cert).read_bytes())
            user["client-key-data"] = _b64(Path(key).read_bytes())
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url, "certificate-authority-data": _b64(Path(self.ca_file).read_bytes())}}],
            "users": [{"name": "test", "user": user}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": namespace}}],
            "current-context": "test",
        }

    def write_kubeconfig(self, target: Path, namespace: str = "default") -> Path:
        target.write_text(yaml.safe_dump(self.kubeconfig(namespace)))
        target.chmod(0o600)
        return target


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class ControlPlane:
    """``build/controlplane up`` in a directory of its own."""

    def __init__(self, directory: Path | None = None):
        self.dir = Path(directory or tempfile.mkdtemp(prefix="controlplane-"))
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.kubeconfig_path = Path()

    def start(self) -> ControlPlane:
        if not CONTROLPLANE.exists():
            raise RuntimeError(f"{CONTROLPLANE} is missing: `make install` builds it (it needs Go)")
        self.proc = subprocess.Popen(
            [str(CONTROLPLANE), "up", "--dir", str(self.dir), "--exit-on-stdin-close"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.dir / "up.log", "wb"),
            text=True, start_new_session=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(READY_TIMEOUT)
        if not line or not line[0].startswith("ready "):
            self.stop()
            raise RuntimeError(f"the control plane did not start:\n{self.log_tail()}")
        _, self.url, kubeconfig = line[0].split()
        self.kubeconfig_path = Path(kubeconfig)
        return self

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for log in [self.dir / "up.log", *sorted((self.dir / "logs").glob("*.log"))]:
            if log.exists():
                out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    @property
    def ca_file(self) -> str:
        return str(self.dir / "ca.crt")

    def admin(self) -> Kube:
        return Kube(self.url, self.ca_file, cert=(str(self.dir / "admin.crt"), str(self.dir / "admin.key")))

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)
        self.proc = None
