"""The security contexts of workspace pods: Pod Security "restricted" unless an image needs more.

Namespaces commonly enforce Kubernetes' Pod Security "restricted" level
(Kubeflow's profile namespaces can, and the API server refuses a pod that
misses it). So by default a workspace runs as zero-to-jupyterhub's user
(uid 1000, jovyan, in group 100), with fsGroup 100 so that a freshly
provisioned home volume is writable, the runtime's default seccomp profile,
no capabilities and no privilege escalation.
"""

from __future__ import annotations

import copy
from typing import Any

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
