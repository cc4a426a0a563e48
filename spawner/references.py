"""What a spec refers to in its namespace: data volumes (existing PVCs) and Kubeflow PodDefaults.

Checked before any object is created, so a typo is a 400 naming the field
instead of a pod stuck Pending. Who may use what: in a user's own namespace or
a Kubeflow profile namespace, the namespace's access rules already decide (a
contributor can read every PVC there anyway). In the one namespace all users
share (the fixed ``kubernetes.namespace``), an object is usable only when an
admin has shared it with the annotation ``workspaces.jupyter.org/groups``:
the JupyterHub groups that may use it, comma-separated, or ``*`` for everyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from workspaces.spec import VolumeMount

SHARED_WITH = "workspaces.jupyter.org/groups"
MANAGED_BY = "app.kubernetes.io/managed-by"


class Refused(Exception):
    """The spec names something it may not use; ``path`` is the spec field."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class Namespace:
    name: str
    shared: bool  # the one namespace every user's workspaces share
    groups: frozenset[str]  # the user's JupyterHub groups


def _usable(obj: dict[str, Any], where: Namespace) -> bool:
    meta = obj.get("metadata") or {}
    if (meta.get("labels") or {}).get(MANAGED_BY) == "workspaces":
        return False  # another workspace's own storage
    if not where.shared:
        return True
    allowed = {g.strip() for g in (meta.get("annotations") or {}).get(SHARED_WITH, "").split(",") if g.strip()}
    return "*" in allowed or bool(allowed & where.groups)


def _names(objects: Iterable[dict[str, Any]]) -> str:
    return ", ".join(sorted(o["metadata"]["name"] for o in objects)) or "(none)"


def check_volumes(
    volumes: Sequence[VolumeMount], claims: list[dict[str, Any]], where: Namespace, reserved: dict[str, str]
) -> None:
    """Every volume names a PVC of the namespace the user may use, at a path of its own.

    ``reserved``: mount paths the workspace itself uses, and what for.
    """
    usable = {c["metadata"]["name"]: c for c in claims if _usable(c, where)}
    for i, volume in enumerate(volumes):
        path = volume.mount_path.rstrip("/")
        if path in reserved:
            raise Refused(f"volumes[{i}].mount_path", f"{path} is where {reserved[path]} is mounted; pick another path")
        if volume.claim not in usable:
            raise Refused(
                f"volumes[{i}].claim",
                f"no PersistentVolumeClaim {volume.claim!r} you may use in namespace {where.name!r}; "
                f"yours to mount: {_names(usable.values())}",
            )


def pod_default_labels(
    names: Sequence[str], pod_defaults: list[dict[str, Any]], where: Namespace, pod_labels: dict[str, str]
) -> dict[str, str]:
    """The labels that make Kubeflow's admission webhook apply these PodDefaults to the pod.

    ``pod_labels``: the workspace's own labels, which a PodDefault may not change.
    """
    usable = {p["metadata"]["name"]: p for p in pod_defaults if _usable(p, where)}
    labels: dict[str, str] = {}
    for i, name in enumerate(names):
        path = f"pod_defaults[{i}]"
        if name not in usable:
            raise Refused(
                path, f"no PodDefault {name!r} you may use in namespace {where.name!r}; available: {_names(usable.values())}"
            )
        selector = (usable[name].get("spec") or {}).get("selector") or {}
        match = selector.get("matchLabels") or {}
        if not match or selector.get("matchExpressions"):
            raise Refused(path, f"PodDefault {name!r} does not select pods by matchLabels alone, so it cannot be applied")
        clash = sorted(k for k, v in match.items() if k in pod_labels and pod_labels[k] != v)
        if clash:
            raise Refused(path, f"PodDefault {name!r} selects on the workspace's own labels ({', '.join(clash)})")
        labels.update(match)
    return labels
