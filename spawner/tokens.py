"""A workspace's hub token in a Secret of its own, not in its pod's spec.

KubeSpawner puts the server's API token in the pod's environment, where
anyone who may read pods (a Kubeflow ``view`` contributor, a monitoring
tool) can take it and act as the workspace's owner. Here the token goes into
a Secret that the kubelet reads through ``secretKeyRef``: reading Secrets is
a right that Kubernetes' ``view`` role, and so Kubeflow's, does not grant.
The Secret is owned by the pod, so whatever removes the pod removes it too.
"""

from __future__ import annotations

from typing import Any

TOKEN_KEY = "token"
# what JupyterHub's Spawner.get_env fills with the server's API token
TOKEN_VARIABLES = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")


def secret_name(pod_name: str) -> str:
    """The Secret of a workspace's token (a pod name is at most 63 characters; a Secret's, 253)."""
    return f"{pod_name}-token"


def by_reference(env: dict[str, Any], name: str) -> dict[str, Any]:
    """``env`` with each token variable read from Secret ``name`` instead of written out."""
    return {
        key: {"valueFrom": {"secretKeyRef": {"name": name, "key": TOKEN_KEY}}} if key in TOKEN_VARIABLES else value
        for key, value in env.items()
    }


def secret_manifest(name: str, token: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": labels},
        "type": "Opaque",
        "stringData": {TOKEN_KEY: token},
    }


def owned_by(pod: dict[str, Any]) -> dict[str, Any]:
    """A patch that makes the pod the Secret's owner, so the garbage collector removes it with the pod."""
    meta = pod["metadata"]
    return {"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}]}}
