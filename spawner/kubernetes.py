"""The Kubernetes backend (groundwork for issue 3): workspaces as pods with PVCs.

:class:`KubeWorkspaceSpawner` is KubeSpawner driven by the workspace spec:
image and pull policy from the catalog entry, requests and limits, the GPU
vendor resource, node selector and tolerations from the profile, one PVC per
workspace mounted as home (kept on stop, deleted with the workspace), a
memory-backed /dev/shm, and names and labels that identify the workspace.

With ``kubernetes.kubeflow`` on, a workspace goes to its owner's Kubeflow
profile namespace, or a contributor namespace named in the spec; any other is
refused with 403 before an object is created.

Not selectable as ``backend`` yet: PodDefaults, fast failure from events,
one cluster-wide watch and Istio are still to come.
"""

from __future__ import annotations

from typing import Any

from kubespawner import KubeSpawner
from tornado import web

from workspaces.spec import ResolvedSpec

from .base import WorkspaceSpawnerMixin
from .kubeflow import NamespaceRefused, check_namespace
from .naming import workspace_name

LABEL_PREFIX = "workspaces.jupyter.org"
NAME_PREFIX = "ws-"
MAX_NAME = 63  # a DNS-1123 label


def object_name(user: str, server: str) -> str:
    """The pod and PVC name of a workspace: collision-free, DNS-1123, at most 63 characters."""
    return NAME_PREFIX + workspace_name(user, server, MAX_NAME - len(NAME_PREFIX))


def label_value(value: str) -> str:
    """A label value (at most 63 characters of [a-z0-9-], never empty) naming ``value``."""
    return workspace_name(value, "", MAX_NAME) or "none"


def workspace_labels(user: str, server: str, image: str, profile: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "workspaces",
        "app.kubernetes.io/component": "workspace",
        f"{LABEL_PREFIX}/owner": label_value(user),
        f"{LABEL_PREFIX}/workspace": label_value(server or "default"),
        f"{LABEL_PREFIX}/image": image,
        f"{LABEL_PREFIX}/profile": profile,
    }


class KubeWorkspaceSpawner(WorkspaceSpawnerMixin, KubeSpawner):
    """KubeSpawner with the workspace spec, catalog and profiles."""

    backend_name = "kubernetes"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._use_workspace_names()
        settings = self.workspaces_settings.settings.kubernetes
        self.namespace = settings.namespace
        self.storage_class = settings.storage_class or ""
        self.storage_access_modes = list(settings.storage_access_modes)
        self.storage_pvc_ensure = True
        # everything the product made can be found by label; KubeSpawner
        # writes component_label as component and app.kubernetes.io/component,
        # and its pod watch selects on it
        self.common_labels = {**self.common_labels, "app.kubernetes.io/managed-by": "workspaces"}
        self.component_label = "workspace"
        # a PVC is removed only with its workspace (delete_forever), never on stop
        self.delete_pvc = True

    def _use_workspace_names(self) -> None:
        name = object_name(self.user.name, self.name)
        self.pod_name = name
        self.pvc_name = name
        self.dns_name = self.dns_name_template.format(namespace=self.namespace, name=name)

    def clear_state(self) -> None:
        super().clear_state()
        self._use_workspace_names()  # KubeSpawner resets the pod name from its template

    async def start(self) -> Any:
        await self._choose_namespace()
        return await super().start()

    async def _choose_namespace(self) -> None:
        """Put the workspace where its owner may work; refuse before creating anything."""
        settings = self.workspaces_settings.settings.kubernetes
        requested = self.resolved_spec.spec.namespace if self.resolved_spec else None
        if settings.kubeflow:
            try:
                access = await check_namespace(self.api.api_client, self.user.name, requested)
            except NamespaceRefused as e:
                raise web.HTTPError(403, f"namespace: {e}") from None
            self.namespace = access.namespace
        elif requested not in (None, settings.namespace):
            raise web.HTTPError(
                400, f"namespace: workspaces run in {settings.namespace!r} here (Kubeflow profiles are off)"
            )
        self.dns_name = self.dns_name_template.format(namespace=self.namespace, name=self.pod_name)

    async def load_user_options(self) -> None:
        """The workspace spec replaces KubeSpawner's profile_list (and its own
        meaning of the ``profile`` option): apply_spec has already applied it."""

    def apply_resolved_spec(self, resolved: ResolvedSpec) -> None:
        image, profile = resolved.image, resolved.profile
        settings = self.workspaces_settings
        self.image = image.image
        self.image_pull_policy = image.pull_policy
        self.cpu_limit = profile.cpu.limit
        self.cpu_guarantee = profile.cpu.guarantee
        self.mem_limit = profile.memory.limit_bytes()
        self.mem_guarantee = profile.memory.guarantee_bytes()
        # extended resources: the limit is the request (Kubernetes requires them equal)
        self.extra_resource_limits = {profile.gpu.resource: str(resolved.gpus)} if resolved.gpus else {}
        self.node_selector = dict(profile.node_selector)
        self.tolerations = [
            {
                key: value
                for key, value in {
                    "key": t.key,
                    "operator": t.operator,
                    "value": t.value,
                    "effect": t.effect,
                    "tolerationSeconds": t.toleration_seconds,
                }.items()
                if value is not None
            }
            for t in profile.tolerations
        ]
        labels = workspace_labels(self.user.name, self.name, image.id, profile.id)
        self.extra_labels = labels
        self.storage_extra_labels = labels
        self.storage_capacity = resolved.spec.storage or settings.settings.storage.default_size
        home = settings.settings.kubernetes.home_mount_path
        volumes: list[dict[str, Any]] = [{"name": "home", "persistentVolumeClaim": {"claimName": self.pvc_name}}]
        mounts: list[dict[str, Any]] = [{"name": "home", "mountPath": home}]
        if profile.shm_size:
            volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": profile.shm_size}})
            mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
        for i, volume in enumerate(resolved.spec.volumes):
            volumes.append({"name": f"data-{i}", "persistentVolumeClaim": {"claimName": volume.claim, "readOnly": volume.read_only}})
            mounts.append({"name": f"data-{i}", "mountPath": volume.mount_path, "readOnly": volume.read_only})
        self.volumes = volumes
        self.volume_mounts = mounts
