"""The Kubernetes backend: workspaces as pods with PVCs.

:class:`KubeWorkspaceSpawner` is KubeSpawner driven by the workspace spec:
image and pull policy from the catalog entry, requests and limits, the GPU
vendor resource, node selector and tolerations from the profile, one PVC per
workspace mounted as home (kept on stop, deleted with the workspace), a
memory-backed /dev/shm, data volumes and Kubeflow PodDefaults named in the
spec, and names and labels that identify the workspace.

Where a workspace goes: with ``kubernetes.kubeflow``, its owner's profile
namespace or a contributor namespace named in the spec; else one namespace per
user from ``namespace_template``, or the one fixed ``namespace``. Everything
the spec refers to is checked before the first object is created.

Beyond KubeSpawner: one cluster-wide pod watch and event watch
(:mod:`spawner.reflectors`), a start that fails within seconds when the
cluster says the pod will never run (:mod:`spawner.pod_failures`), retries on
API errors that pass (5xx, 429), cleanup of the pod whenever a start fails,
and a pod found again after a hub restart even when the hub died mid-spawn.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from jupyterhub.spawner import SpawnException
from jupyterhub.utils import exponential_backoff
from kubernetes_asyncio.client import CustomObjectsApi
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner
from kubespawner.objects import make_namespace
from traitlets import Bool, Float, default

from workspaces.spec import ResolvedSpec

from .base import WorkspaceSpawnerMixin
from .kubeflow import NamespaceRefused, check_namespace
from .naming import workspace_name
from .pod_failures import PodFailure, pod_failure
from .reflectors import POD_LABELS, WorkspaceEventReflector, WorkspacePodReflector

LABEL_PREFIX = "workspaces.jupyter.org"
NAME_PREFIX = "ws-"
MAX_NAME = 63  # a DNS-1123 label
# API answers worth another try: the server is busy or briefly failing
RETRYABLE = {429, 500, 502, 503, 504}
# Istio: the server must not start before its sidecar can carry the hub's requests.
# (Braces doubled: KubeSpawner expands {username}-style fields in annotations.)
ISTIO_ANNOTATIONS = {
    "sidecar.istio.io/inject": "true",
    "proxy.istio.io/config": json.dumps({"holdApplicationUntilProxyStarts": True}).replace("{", "{{").replace("}", "}}"),
}

T = TypeVar("T")


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


class WorkspaceSpawnFailed(SpawnException):
    """A start refused or failed for a reason the user should read as it is."""

    def __init__(self, message: str, *, reason: str, status_code: int):
        super().__init__(message, reason=reason, status_code=status_code)
        self.jupyterhub_message = message  # the hub's progress stream and API show this


class KubeWorkspaceSpawner(WorkspaceSpawnerMixin, KubeSpawner):
    """KubeSpawner with the workspace spec, catalog and profiles."""

    backend_name = "kubernetes"

    # Our reflectors, apart from any plain KubeSpawner's in the same process.
    reflectors: dict[tuple[str, str | None], Any] = {}
    # (API server, namespace) this process has made sure exist (namespace_template mode).
    _namespaces_ensured: set[tuple[str, str]] = set()

    fail_fast = Bool(
        True,
        config=True,
        help="""End a start as soon as the cluster says the pod cannot run.

        Unschedulable (no node has the resources), image pull errors, container
        configuration errors and crash loops end the spawn within seconds with
        the cluster's message, instead of after start_timeout. A pod for which
        a cluster autoscaler has triggered a scale-up is waited for.
        """,
    )

    failure_check_interval = Float(0.25, config=True, help="Seconds between looks at a starting pod's status.")

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        # as zero-to-jupyterhub does: the image's own CMD would drop the hub's arguments
        return ["jupyterhub-singleuser"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        settings = self.workspaces_settings.settings.kubernetes
        self.namespace = settings.namespace
        self._use_workspace_names()
        self.storage_class = settings.storage_class or ""
        self.storage_access_modes = list(settings.storage_access_modes)
        self.storage_pvc_ensure = True
        # everything the product made can be found by label; KubeSpawner
        # writes component_label as component and app.kubernetes.io/component
        self.common_labels = {**self.common_labels, "app.kubernetes.io/managed-by": "workspaces"}
        self.component_label = "workspace"
        # a PVC is removed only with its workspace (delete_forever), never on stop
        self.delete_pvc = True
        if settings.istio:
            self.services_enabled = True  # the proxy reaches the server through a Service in the mesh
            self.extra_annotations = {**ISTIO_ANNOTATIONS, **self.extra_annotations}

    def _use_workspace_names(self) -> None:
        self.pod_name = self.pvc_name = object_name(self.user.name, self.name)
        self._place_in(self.namespace)

    def _place_in(self, namespace: str) -> None:
        self.namespace = namespace
        self.dns_name = self.dns_name_template.format(namespace=namespace, name=self.pod_name)

    def clear_state(self) -> None:
        super().clear_state()
        self._use_workspace_names()  # KubeSpawner resets the pod name from its template

    # -- one watch for all namespaces ----------------------------------------

    def _get_reflector_key(self, kind: str) -> tuple[str, str | None]:
        return (kind, None)

    async def _start_watching_pods(self, replace: bool = False) -> Any:
        return await self._start_reflector(
            kind="pods",
            reflector_class=WorkspacePodReflector,
            labels=POD_LABELS,
            omit_namespace=True,
            replace=replace,
        )

    async def _start_watching_events(self, replace: bool = False) -> Any:
        return await self._start_reflector(
            kind="events",
            reflector_class=WorkspaceEventReflector,
            fields={"involvedObject.kind": "Pod"},
            pod_name_prefix=NAME_PREFIX,
            omit_namespace=True,
            replace=replace,
        )

    def _find_pod_namespace(self) -> None:
        """Follow the pod if it is not where the saved state says.

        A hub killed during a spawn never saved the namespace it chose; the
        pod's name is unique to the workspace, so the cluster-wide view finds it.
        """
        if f"{self.namespace}/{self.pod_name}" in self.pod_reflector.pods:
            return
        for pod in self.pod_reflector.pods.values():
            if pod["metadata"]["name"] == self.pod_name:
                self._place_in(pod["metadata"]["namespace"])
                return

    async def poll(self) -> int | None:
        await self._start_watching_pods()
        self._find_pod_namespace()
        return await super().poll()

    async def stop(self, now: bool = False) -> None:
        await self._start_watching_pods()
        self._find_pod_namespace()
        await super().stop(now=now)

    # -- start -----------------------------------------------------------------

    async def start(self) -> Any:
        """Check everything the spec refers to, then start; on any failure, remove the pod."""
        await self._choose_namespace()
        await self._check_references()
        started = super().start()
        try:
            if not self.fail_fast:
                return await started
            return await self._unless_the_pod_fails(started)
        except BaseException:
            if not started.done():
                started.cancel()
            await self._remove_failed_pod()
            raise

    async def _unless_the_pod_fails(self, started: asyncio.Future) -> Any:
        watcher = asyncio.ensure_future(self._first_failure())
        try:
            await asyncio.wait({started, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not watcher.done():
                watcher.cancel()
        if started.done():
            return started.result()
        failure: PodFailure = watcher.result()
        self.log.warning("Start of %s failed: %s", self._log_name, failure.message)
        raise WorkspaceSpawnFailed(failure.message, reason=failure.reason, status_code=failure.status_code)

    async def _first_failure(self) -> PodFailure:
        """Wait until the pod being started shows that it will never run."""
        await self._start_watching_pods()
        await self._start_watching_events()
        while True:
            pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
            if pod is not None:
                uid = pod["metadata"].get("uid")
                events = [e for e in self.events if e["involvedObject"].get("uid") in (None, uid)]
                failure = pod_failure(pod, events)
                if failure:
                    return failure
            await asyncio.sleep(self.failure_check_interval)

    async def _remove_failed_pod(self) -> None:
        try:
            await self.stop(now=True)
        except Exception:
            self.log.exception("Could not remove the pod of %s after a failed start", self._log_name)

    async def _make_create_pod_request(self, pod: Any, request_timeout: float) -> bool:
        # KubeSpawner retries timeouts and a 409 (by replacing the old pod);
        # a busy or briefly failing API server deserves another try as well
        return await self._retry_on_busy(super()._make_create_pod_request(pod, request_timeout))

    async def _make_create_pvc_request(self, pvc: Any, request_timeout: float) -> bool:
        return await self._retry_on_busy(super()._make_create_pvc_request(pvc, request_timeout))

    async def _make_delete_pod_request(self, *args: Any, **kwargs: Any) -> bool:
        return await self._retry_on_busy(super()._make_delete_pod_request(*args, **kwargs))

    async def _retry_on_busy(self, request: Awaitable[bool]) -> bool:
        try:
            return await request
        except ApiException as e:
            if e.status in RETRYABLE:
                self.log.warning("Kubernetes API answered %s for %s; trying again", e.status, self._log_name)
                return False
            raise

    async def _api_call(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """One API read, retried while the API server is busy or briefly failing."""
        result: list[T] = []

        async def attempt() -> bool:
            try:
                result.append(await asyncio.wait_for(call(), self.k8s_api_request_timeout))
                return True
            except asyncio.TimeoutError:
                return False
            except ApiException as e:
                if e.status in RETRYABLE:
                    return False
                raise

        await exponential_backoff(attempt, f"Could not {what}", timeout=self.k8s_api_request_retry_timeout)
        return result[0]

    # -- where the workspace goes ------------------------------------------------

    async def _choose_namespace(self) -> None:
        """Put the workspace where its owner may work; refuse before creating anything."""
        settings = self.workspaces_settings.settings.kubernetes
        requested = self.resolved_spec.spec.namespace if self.resolved_spec else None
        if settings.kubeflow:
            try:
                access = await self._api_call(
                    partial(check_namespace, self.api.api_client, self.user.name, requested),
                    "read Kubeflow profiles",
                )
            except NamespaceRefused as e:
                raise WorkspaceSpawnFailed(f"namespace: {e}", reason="namespace", status_code=403) from None
            namespace = access.namespace
        elif settings.namespace_template:
            namespace = settings.namespace_template.format(username=label_value(self.user.name))
            if requested not in (None, namespace):
                raise WorkspaceSpawnFailed(
                    f"namespace: your workspaces run in {namespace!r} here; {requested!r} is not allowed",
                    reason="namespace",
                    status_code=403,
                )
            await self._ensure_user_namespace(namespace)
        else:
            namespace = settings.namespace
            if requested not in (None, namespace):
                raise WorkspaceSpawnFailed(
                    f"namespace: workspaces run in {namespace!r} here; {requested!r} is not allowed",
                    reason="namespace",
                    status_code=400,
                )
        self._place_in(namespace)

    async def _ensure_user_namespace(self, namespace: str) -> None:
        """Create a user's namespace if missing (never delete or change one)."""
        key = (self.api.api_client.configuration.host, namespace)
        if key in self._namespaces_ensured:
            return
        body = make_namespace(namespace, labels={"app.kubernetes.io/managed-by": "workspaces"})

        async def create() -> None:
            try:
                await self.api.create_namespace(body)
            except ApiException as e:
                if e.status != 409:  # it exists: leave it as it is
                    raise

        await self._api_call(create, f"create namespace {namespace}")
        self._namespaces_ensured.add(key)

    # -- what the spec refers to ---------------------------------------------------

    async def _check_references(self) -> None:
        """Data volumes and PodDefaults must exist in the namespace before any object is made."""
        spec = self.resolved_spec.spec if self.resolved_spec else None
        if spec is None:
            return
        if spec.volumes:
            claims = await self._api_call(
                partial(self.api.list_namespaced_persistent_volume_claim, self.namespace),
                f"list PersistentVolumeClaims in {self.namespace}",
            )
            existing = sorted(
                c.metadata.name
                for c in claims.items
                if (c.metadata.labels or {}).get("app.kubernetes.io/managed-by") != "workspaces"
            )
            for i, volume in enumerate(spec.volumes):
                if volume.claim not in existing:
                    raise WorkspaceSpawnFailed(
                        f"volumes[{i}].claim: no PersistentVolumeClaim {volume.claim!r} in namespace "
                        f"{self.namespace!r}; existing: {', '.join(existing) or '(none)'}",
                        reason="volume",
                        status_code=400,
                    )
        if spec.pod_defaults:
            self.extra_labels = {**await self._pod_default_labels(spec.pod_defaults), **self.extra_labels}

    async def _pod_default_labels(self, names: list[str]) -> dict[str, str]:
        """The labels that make Kubeflow's admission webhook apply these PodDefaults."""
        api = CustomObjectsApi(self.api.api_client)
        try:
            found = await self._api_call(
                partial(api.list_namespaced_custom_object, "kubeflow.org", "v1alpha1", self.namespace, "poddefaults"),
                f"list PodDefaults in {self.namespace}",
            )
        except ApiException as e:
            if e.status != 404:
                raise
            raise WorkspaceSpawnFailed(
                "pod_defaults: this cluster has no Kubeflow PodDefaults (kubeflow.org/v1alpha1); remove pod_defaults",
                reason="pod_defaults",
                status_code=400,
            ) from None
        by_name = {p["metadata"]["name"]: p for p in found.get("items", [])}
        labels: dict[str, str] = {}
        for i, name in enumerate(names):
            if name not in by_name:
                raise WorkspaceSpawnFailed(
                    f"pod_defaults[{i}]: no PodDefault {name!r} in namespace {self.namespace!r}; "
                    f"available: {', '.join(sorted(by_name)) or '(none)'}",
                    reason="pod_defaults",
                    status_code=400,
                )
            selector = (by_name[name].get("spec") or {}).get("selector") or {}
            labels.update(selector.get("matchLabels") or {})
        return labels

    # -- the spec -----------------------------------------------------------------

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
