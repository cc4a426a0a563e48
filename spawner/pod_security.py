"""The security contexts of workspace pods: Pod Security "restricted" unless an image needs more.

Namespaces commonly enforce Kubernetes' Pod Security "restricted" level
(Kubeflow's profile namespaces can, and the API server refuses a pod that
misses it). So by default a workspace runs as zero-to-jupyterhub's user
(uid 1000, jovyan, in group 100), with fsGroup 100 so that a freshly
provisioned home volume is writable, the runtime's default seccomp profile,
no capabilities and no privilege escalation. An image whose catalog entry
says it needs more (``security``: run as root, capabilities) gets that, and
only that image.
"""

from __future__ import annotations

import copy
from typing import Any

from workspaces.catalog import ImageSecurity

# jovyan in the Jupyter images, and the group 'users' that owns its files
USER = 1000
GROUP = 100

POD = {"runAsNonRoot": True, "runAsUser": USER, "runAsGroup": GROUP, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER = {"capabilities": {"drop": ["ALL"]}}


def pod_context() -> dict[str, Any]:
    """The pod-level context (fsGroup comes from KubeSpawner's fs_gid)."""
    return copy.deepcopy(POD)


def container_context() -> dict[str, Any]:
    """The notebook container's context (allowPrivilegeEscalation comes from KubeSpawner's trait)."""
    return copy.deepcopy(CONTAINER)


def for_image(pod: dict[str, Any], container: dict[str, Any], needs: ImageSecurity) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod and container contexts, as configured, with what the image needs added."""
    pod, container = copy.deepcopy(pod), copy.deepcopy(container)
    if needs.run_as_root:
        pod.pop("runAsNonRoot", None)
        pod.update(runAsUser=0, runAsGroup=0)
    if needs.capabilities:
        capabilities = container.setdefault("capabilities", {})
        added = capabilities.get("add") or []
        capabilities["add"] = added + [c for c in needs.capabilities if c not in added]
    return pod, container
