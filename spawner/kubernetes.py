"""The Kubernetes backend: workspaces as pods with PVCs.

:class:`KubeWorkspaceSpawner` is KubeSpawner driven by the workspace spec:
image and pull policy from the catalog entry, requests and limits, the GPU
vendor resource, node selector and tolerations from the profile, one PVC per
workspace mounted as home (kept on stop, deleted with the workspace), a
memory-backed /dev/shm, data volumes and Kubeflow PodDefaults named in the
spec, names and labels that identify the workspace, and security contexts that
meet Pod Security "restricted" (:mod:`spawner.pod_security`).

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

from jupyterhub.utils import exponential_backoff, maybe_future
from kubernetes_asyncio.client import CustomObjectsApi, NetworkingV1Api
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner
from kubespawner.objects import make_namespace
from traitlets import Bool, Float, default

from workspaces.capacity import UNKNOWN, Capacity, Need, kube_capacity, over_quota, pod_charges, quota_lines
from workspaces.capacity_kube import namespace_quotas
from workspaces.catalog import ImageEntry, ImageSecurity, Profile
from workspaces.quantity import amount
from workspaces.spec import ResolvedSpec

from . import egress, pod_security, tokens
from .base import WorkspaceSpawnerMixin, WorkspaceSpawnFailed
from workspaces.kubeflow import NamespaceRefused, check_namespace
from workspaces.naming import NAME_PREFIX, label_value, object_name, template_namespace
from .pod_failures import PodFailure, claim_failure, pod_failure
from .pod_placement import placement_traits
from .references import Namespace, Refused, check_volumes, pod_default_labels
from .refusals import is_refusal, refusal
from .reflectors import POD_LABELS, NodeReflector, WorkspaceEventReflector, WorkspacePodReflector

LABEL_PREFIX = "workspaces.jupyter.org"
# API answers worth another try: the server is busy or briefly failing
RETRYABLE = {429, 500, 502, 503, 504}


def literal(text: str) -> str:
    """``text`` as it must be given to KubeSpawner to reach the object unchanged.

    KubeSpawner expands ``{username}``-style fields with str.format in labels,
    annotations, volumes and volume mounts; text from users and from the cluster
    is no template, so its braces are doubled.
    """
    return text.replace("{", "{{").replace("}", "}}")


# Istio: the server must not start before its sidecar can carry the hub's requests.
ISTIO_ANNOTATIONS = {
    "sidecar.istio.io/inject": "true",
    "proxy.istio.io/config": literal(json.dumps({"holdApplicationUntilProxyStarts": True})),
}

T = TypeVar("T")


def workspace_labels(user: str, server: str, image: str, profile: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "workspaces",
        "app.kubernetes.io/component": "workspace",
        f"{LABEL_PREFIX}/owner": label_value(user),
        f"{LABEL_PREFIX}/workspace": label_value(server or "default"),
        f"{LABEL_PREFIX}/image": image,
        f"{LABEL_PREFIX}/profile": profile,
    }


def _event_namespace(event: dict[str, Any]) -> str | None:
    # an event lives in the namespace of the object it is about
    return event["involvedObject"].get("namespace") or event["metadata"].get("namespace")


class KubeWorkspaceSpawner(WorkspaceSpawnerMixin, KubeSpawner):
    """KubeSpawner with the workspace spec, catalog and profiles."""

    backend_name = "kubernetes"

    # Our reflectors, apart from any plain KubeSpawner's in the same process.
    reflectors: dict[tuple[str, str | None], Any] = {}

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

    unschedulable_grace = Float(
        10,
        config=True,
        help="""Seconds an unschedulable pod is given before its start fails.

        A cluster autoscaler answers within one scan interval (10 s by default):
        TriggeredScaleUp makes the start wait for the new node, NotTriggerScaleUp
        ends it at once. Without an autoscaler this is the delay before failing.
        """,
    )

    failure_check_interval = Float(0.25, config=True, help="Seconds between looks at a starting pod's status.")

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        # as zero-to-jupyterhub does: the image's own CMD would drop the hub's arguments
        return ["jupyterhub-singleuser"]

    # Pod Security "restricted" by default (spawner.pod_security); KubeSpawner
    # already forbids privilege escalation (allow_privilege_escalation=False).
    @default("pod_security_context")
    def _default_pod_security_context(self) -> dict[str, Any]:
        return pod_security.pod_context()

    @default("container_security_context")
    def _default_container_security_context(self) -> dict[str, Any]:
        return pod_security.container_context()

    @default("fs_gid")
    def _default_fs_gid(self) -> int:
        return pod_security.GROUP  # a new volume's files belong to jovyan's group: the home is writable

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        settings = self.workspaces_settings.settings.kubernetes
        self.namespace = settings.namespace
        self._namespace_known = False  # chosen at start, or saved in the state
        self._stale_pod_uid: str | None = None  # a pod from before this start, not to be judged
        self._creating: asyncio.Future | None = None  # the pod create request in flight
        self._use_workspace_names()
        # the security contexts as configured, to which each start adds what its image needs
        self._security_contexts = (self.pod_security_context, self.container_security_context)
        # None leaves storageClassName out, so the cluster's default class applies;
        # "" would ask for no class at all (only a pre-provisioned volume could bind)
        self.storage_class = settings.storage_class
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
        # the token Secret gets its owner once the pod exists; an admin's own hook runs after
        self._configured_after_pod_created_hook = self.after_pod_created_hook
        self.after_pod_created_hook = self._after_pod_created

    def _use_workspace_names(self) -> None:
        self.pod_name = self.pvc_name = object_name(self.user.name, self.name)
        self.token_secret = tokens.secret_name(self.pod_name)
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
        pods = await self._start_reflector(
            kind="pods",
            reflector_class=WorkspacePodReflector,
            labels=POD_LABELS,
            omit_namespace=True,
            replace=replace,
        )
        # with the hub's other watches, so the first form shown has the nodes already
        await self._start_watching_nodes()
        return pods

    async def _start_watching_nodes(self) -> Any:
        return await self._start_reflector(kind="nodes", reflector_class=NodeReflector)

    async def _start_watching_events(self, replace: bool = False) -> Any:
        return await self._start_reflector(
            kind="events",
            reflector_class=WorkspaceEventReflector,
            pod_name_prefix=NAME_PREFIX,
            omit_namespace=True,
            replace=replace,
        )

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of this workspace's pod since the start began.

        KubeSpawner matches events by pod name alone, which a per-namespace watch
        makes enough; from the cluster-wide watch, a pod of the same name in
        another namespace (anyone may make one) would feed its events into this
        start's progress and failure checks. The namespace is checked here, the
        pod's uid by the failure check, once the pod is known.
        """
        return [e for e in super().events if _event_namespace(e) == self.namespace]

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._namespace_known = "namespace" in state

    async def _recover_namespace(self) -> None:
        """Find the workspace's namespace when no saved state says it.

        A hub killed during a spawn never saved the namespace it chose. With a
        template it follows from the user; with Kubeflow, the pod is looked up
        by its name and labels in the cluster-wide view, and taken only from a
        namespace this user may use (anybody may label a pod in their own).
        """
        if self._namespace_known:
            return
        settings = self.workspaces_settings.settings.kubernetes
        if settings.namespace_template:
            self._place_in(template_namespace(settings.namespace_template, self.user.name))
        elif settings.kubeflow:
            mine = {f"{LABEL_PREFIX}/owner": label_value(self.user.name), f"{LABEL_PREFIX}/workspace": label_value(self.name or "default")}
            for pod in list(self.pod_reflector.pods.values()):
                meta = pod["metadata"]
                if meta["name"] != self.pod_name or not mine.items() <= (meta.get("labels") or {}).items():
                    continue
                try:
                    await self._api_call(
                        partial(check_namespace, self.api.api_client, self.user.name, meta["namespace"]),
                        "read Kubeflow profiles",
                    )
                except NamespaceRefused:
                    self.log.warning("Ignoring pod %s/%s: not a namespace %s may use", meta["namespace"], meta["name"], self._log_name)
                    continue
                self._place_in(meta["namespace"])
                break
            else:
                return
        self._namespace_known = True

    async def poll(self) -> int | None:
        await self._start_watching_pods()
        await self._recover_namespace()
        return await super().poll()

    async def stop(self, now: bool = False) -> None:
        await self._start_watching_pods()
        await self._recover_namespace()
        await super().stop(now=now)
        # the garbage collector would remove it with the pod; a stop need not wait for that
        await self._delete_token_secret()

    async def get_url(self) -> str:
        """The server's address from its pod: a hub restarted before a start
        finished never saved it, and can take the workspace over with this."""
        await self._start_watching_pods()
        await self._recover_namespace()
        pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        if pod is not None and pod["status"].get("podIP") and self.is_pod_running(pod):
            return self._get_pod_url(pod)
        return await super().get_url()

    # -- start -----------------------------------------------------------------

    async def start(self) -> Any:
        """Check everything the spec refers to, then start; on any failure, remove the pod."""
        try:
            await self._choose_namespace()
            await self._check_references()
            await self._check_quota()
        except WorkspaceSpawnFailed:
            self.undo_recorded_options()  # refused before anything of the workspace was made
            raise
        await self._limit_egress()
        await self._start_watching_pods()
        stale = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        self._stale_pod_uid = stale["metadata"]["uid"] if stale else None
        started = super().start()
        try:
            if not self.fail_fast:
                return await started
            return await self._unless_the_pod_fails(started)
        except BaseException as e:
            if not started.done():
                started.cancel()
            await self._remove_failed_pod()
            if isinstance(e, WorkspaceSpawnFailed) and e.reason == "storage":
                await self._remove_unbound_claim()
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
        await self._start_watching_events()
        loop = asyncio.get_running_loop()
        unschedulable_since: float | None = None
        while True:
            pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
            uid = pod["metadata"].get("uid") if pod else None
            failure = None
            if pod is not None and uid != self._stale_pod_uid:  # a pod left from before is replaced, not judged
                events = self.events
                claim = [e for e in events if e["involvedObject"].get("kind") == "PersistentVolumeClaim"]
                failure = claim_failure(claim) or pod_failure(
                    pod, [e for e in events if e["involvedObject"].get("kind") == "Pod" and e["involvedObject"].get("uid") in (None, uid)]
                )
            if failure is None:
                unschedulable_since = None
            elif failure.final:
                return failure
            else:
                unschedulable_since = unschedulable_since or loop.time()
                if loop.time() - unschedulable_since >= self.unschedulable_grace:
                    return failure
            await asyncio.sleep(self.failure_check_interval)

    async def _remove_failed_pod(self) -> None:
        creating = self._creating
        if creating is not None and not creating.done():
            # a create already sent may still land: hear its answer, then remove what it made
            await asyncio.wait({creating}, timeout=self.k8s_api_request_timeout + 1)
        try:
            await self.stop(now=True)
        except Exception:
            self.log.exception("Could not remove the pod of %s after a failed start", self._log_name)

    # -- the token, out of the pod's spec --------------------------------------------

    def get_env(self) -> dict[str, Any]:
        """The server's environment, its API token read from the workspace's Secret (spawner.tokens)."""
        env = super().get_env()
        return tokens.by_reference(env, self.token_secret) if env.get("JUPYTERHUB_API_TOKEN") else env

    async def _write_token_secret(self) -> None:
        """The Secret of this start's token, made before the pod that reads it; one left from before is replaced.

        The pod's spec names the Secret; the kubelet reads it when it starts
        the container (a missing one would be CreateContainerConfigError).
        """
        labels = self._build_common_labels(self._expand_all(self.storage_extra_labels))
        body = tokens.secret_manifest(self.token_secret, self.api_token, labels)

        async def write() -> bool:
            try:
                await asyncio.wait_for(self.api.create_namespaced_secret(self.namespace, body), self.k8s_api_request_timeout)
                return True
            except asyncio.TimeoutError:
                return False
            except ApiException as e:
                if e.status != 409:
                    raise
            # an earlier start's, whose pod has not been collected yet: never read, only replaced
            await self._delete_token_secret()
            return False

        await exponential_backoff(
            lambda: self._unless_refused("token", self._retry_on_busy(write())),
            f"Could not create Secret {self.token_secret}",
            timeout=self.k8s_api_request_retry_timeout,
        )

    async def _after_pod_created(self, spawner: Any, pod: dict[str, Any]) -> None:
        await self.api.patch_namespaced_secret(self.token_secret, self.namespace, tokens.owned_by(pod))
        if self._configured_after_pod_created_hook:
            await maybe_future(self._configured_after_pod_created_hook(spawner, pod))

    async def _delete_token_secret(self) -> None:
        try:
            await self.api.delete_namespaced_secret(self.token_secret, self.namespace)
        except ApiException as e:
            if e.status != 404:
                raise

    async def _remove_unbound_claim(self) -> None:
        """A claim that was never bound holds no data: remove it, so the next start makes it anew."""
        try:
            claim = await self.api.read_namespaced_persistent_volume_claim(self.pvc_name, self.namespace)
            if claim.status.phase != "Bound":
                await self.api.delete_namespaced_persistent_volume_claim(self.pvc_name, self.namespace)
                self._pvc_exists = False
        except ApiException as e:
            if e.status != 404:
                self.log.exception("Could not remove the unbound claim of %s", self._log_name)

    async def _make_create_pod_request(self, pod: Any, request_timeout: float) -> bool:
        # KubeSpawner retries timeouts and a 409 (by replacing the old pod);
        # a busy or briefly failing API server deserves another try as well.
        # Shielded: a start cancelled meanwhile must not lose track of a pod being made.
        self._creating = asyncio.ensure_future(self._create_pod_with_token(pod, request_timeout))
        return await asyncio.shield(self._creating)

    async def _create_pod_with_token(self, pod: Any, request_timeout: float) -> bool:
        # the token Secret right before each try: KubeSpawner answers a 409 by
        # stopping the old pod, and a stop removes the Secret along with it
        await self._write_token_secret()
        return await self._unless_refused("pod", self._retry_on_busy(super()._make_create_pod_request(pod, request_timeout)))

    async def _make_create_pvc_request(self, pvc: Any, request_timeout: float) -> bool:
        return await self._unless_refused("storage", self._retry_on_busy(self._create_claim(pvc, request_timeout)))

    async def _create_claim(self, pvc: Any, request_timeout: float) -> bool:
        """KubeSpawner's create, except that a claim of the same name still being deleted is never taken.

        KubeSpawner takes a 409 to mean the claim is there to use. Right
        after a delete it may be Terminating (pvc-protection holds it while a
        pod still mounts it): a pod made now would wait for a claim that is
        about to vanish. So a workspace's first start reads the claim back and
        waits for a terminating one to go (exponential_backoff asks again).
        """
        if not await super()._make_create_pvc_request(pvc, request_timeout):
            return False
        try:
            claim = await self.api.read_namespaced_persistent_volume_claim(pvc.metadata.name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return False  # it finished going meanwhile: create it anew
            raise
        if claim.metadata.deletion_timestamp is not None:
            self.log.info("Claim %s/%s is still being deleted; waiting to create it anew", self.namespace, pvc.metadata.name)
            return False
        return True

    async def _unless_refused(self, what: str, request: Awaitable[bool]) -> bool:
        """A create the API server refuses (4xx) ends the start with the server's words."""
        try:
            return await request
        except ApiException as e:
            if not is_refusal(e):
                raise
            failure = refusal(what, e, self.resolved_spec.image if self.resolved_spec else None)
            self.log.warning("Start of %s refused: %s", self._log_name, failure.jupyterhub_message)
            raise failure from None

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
            namespace = template_namespace(settings.namespace_template, self.user.name)
            if requested not in (None, namespace):
                raise WorkspaceSpawnFailed(
                    f"namespace: your workspaces run in {namespace!r} here; {requested!r} is not allowed",
                    reason="namespace",
                    status_code=403,
                )
        else:
            namespace = settings.namespace
            if requested not in (None, namespace):
                raise WorkspaceSpawnFailed(
                    f"namespace: workspaces run in {namespace!r} here; {requested!r} is not allowed",
                    reason="namespace",
                    status_code=400,
                )
        if self._namespace_known and self._pvc_exists and namespace != self.namespace:
            # its storage stays where it is; moving would start it empty and strand the old PVC
            raise WorkspaceSpawnFailed(
                f"namespace: this workspace's storage is in {self.namespace!r}; a workspace cannot move to "
                f"{namespace!r} (create a new workspace there)",
                reason="namespace",
                status_code=400,
            )
        if settings.namespace_template:
            await self._ensure_user_namespace(namespace)
        self._place_in(namespace)
        self._namespace_known = True
        self._record_namespace(namespace)

    def _record_namespace(self, namespace: str) -> None:
        """The spec says where the workspace runs, so the API and the next start see it."""
        if self.user_options.get("namespace") != namespace:
            self.user_options = {**self.user_options, "namespace": namespace}
            if self.orm_spawner is not None:
                self.orm_spawner.user_options = self.user_options

    async def _ensure_user_namespace(self, namespace: str) -> None:
        """Create a user's namespace if missing (an existing one is left as it is, never deleted).

        Asked at every start, not remembered: a namespace deleted meanwhile
        is made again instead of failing every later start.
        """
        body = make_namespace(namespace, labels={"app.kubernetes.io/managed-by": "workspaces"})

        async def create() -> None:
            try:
                await self.api.create_namespace(body)
            except ApiException as e:
                if e.status == 409:
                    return
                if is_refusal(e):  # RBAC without the template's rule, a policy on namespaces
                    raise refusal("namespace", e, None) from None
                raise

        await self._api_call(create, f"create namespace {namespace}")

    async def _limit_egress(self) -> None:
        """The namespace's egress NetworkPolicy (spawner.egress), written before the pod at every start.

        Created, or replaced when there: a policy changed by hand, or written
        under an older config, is put back as the config says.
        """
        body = egress.egress_policy(self.workspaces_settings.settings)
        if body is None:
            return
        api = NetworkingV1Api(self.api.api_client)
        name = body["metadata"]["name"]

        async def write() -> bool:
            try:
                await api.create_namespaced_network_policy(self.namespace, body)
            except ApiException as e:
                if e.status != 409:
                    raise
                await api.replace_namespaced_network_policy(name, self.namespace, body)
            return True

        await self._api_call(
            lambda: self._unless_refused("network policy", write()), f"write NetworkPolicy {self.namespace}/{name}"
        )

    # -- capacity: the form's hint, the namespace's quotas ----------------------------

    async def form_context(self, profiles: list[Profile]) -> dict[str, Any]:
        """Whether each profile fits a node now (workspaces.capacity), and the namespace's quotas."""
        autoscaling = self.workspaces_settings.settings.kubernetes.autoscaling
        view = await self._start_watching_nodes()
        nodes = view.resources
        try:
            pods = await view.pods.get()
        except Exception as e:  # a hint is never a reason not to show the form
            self.log.warning("Cannot list the pods on the nodes, capacity is not known: %s", e)
            nodes = {}
        if nodes:
            capacity = {p.id: kube_capacity(Need.of(p), nodes.values(), pods, autoscaling) for p in profiles}
        else:
            capacity = {p.id: Capacity(UNKNOWN, "the cluster's capacity is not known") for p in profiles}
        return {"capacity": capacity, "quotas": quota_lines(await self._form_quotas())}

    async def _form_quotas(self) -> list[dict[str, Any]]:
        """The quotas of the namespace a new workspace of this user goes to, where that is known
        without asking (one namespace, or the user's from the template); never a reason not to show the form."""
        settings = self.workspaces_settings.settings.kubernetes
        if settings.kubeflow:
            return []  # the namespace is chosen in the spec; the start checks its quotas
        namespace = template_namespace(settings.namespace_template, self.user.name) if settings.namespace_template else settings.namespace
        try:
            return await namespace_quotas(self.api.api_client, namespace)
        except Exception as e:
            if getattr(e, "status", None) != 404:  # a user's namespace not made yet has no quota
                self.log.warning("Cannot read the ResourceQuotas of %s: %s", namespace, e)
            return []

    async def _check_quota(self) -> None:
        """Refuse (403) a start the namespace's ResourceQuotas cannot hold, before its claim or pod is made.

        The API server would refuse the pod anyway, but only once the claim
        exists; this check makes nothing, and says the quota's name and figures
        as the API server does. What it does not model (scopes, priority
        classes, object counts beyond pods and claims) is still the server's.
        """
        if self.resolved_spec is None:
            return
        try:
            quotas = await self._api_call(
                partial(namespace_quotas, self.api.api_client, self.namespace), f"list ResourceQuotas in {self.namespace}"
            )
        except ApiException as e:
            if e.status != 403:
                raise
            # RBAC from before this check: the API server still holds the quota, once the claim is made
            self.log.warning("Cannot read the ResourceQuotas of %s (RBAC: resourcequotas list): %s", self.namespace, e.reason)
            return
        if not quotas:
            return
        storage = None if await self._claim_exists() else amount(self.storage_capacity)
        need = Need.of(self.resolved_spec.profile, self.resolved_spec.gpus)
        charges = pod_charges(need, self.cpu_limit, self.mem_limit, storage)
        message = over_quota(quotas, charges)
        if message:
            message = f"the namespace {self.namespace}'s quota cannot hold this workspace: {message}"
            self.log.warning("Start of %s refused: %s", self._log_name, message)
            raise WorkspaceSpawnFailed(message, reason="quota", status_code=403)

    def holds_its_volume(self) -> bool:
        # KubeSpawner's own record that the claim exists: set once made or found, kept in the
        # state across stops and hub restarts, cleared when an unbound claim is removed
        return bool(self._pvc_exists)

    async def _claim_exists(self) -> bool:
        try:
            await self._api_call(
                partial(self.api.read_namespaced_persistent_volume_claim, self.pvc_name, self.namespace),
                f"read PersistentVolumeClaim {self.namespace}/{self.pvc_name}",
            )
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    # -- what the spec refers to ---------------------------------------------------

    async def _check_references(self) -> None:
        """Data volumes and PodDefaults must exist, and be the user's to use, before any object is made."""
        spec = self.resolved_spec.spec if self.resolved_spec else None
        if spec is None or not (spec.volumes or spec.pod_defaults):
            return
        settings = self.workspaces_settings.settings.kubernetes
        shared = not settings.kubeflow and not settings.namespace_template
        where = Namespace(self.namespace, shared, frozenset(self.user_groups()))
        client = self.api.api_client
        try:
            if spec.volumes:
                claims = await self._api_call(
                    partial(self.api.list_namespaced_persistent_volume_claim, self.namespace),
                    f"list PersistentVolumeClaims in {self.namespace}",
                )
                reserved = {settings.home_mount_path.rstrip("/"): "the workspace's own storage"}
                if self.resolved_spec.profile.shm_size:
                    reserved["/dev/shm"] = "the profile's shared memory"
                check_volumes(spec.volumes, client.sanitize_for_serialization(claims)["items"], where, reserved)
            if spec.pod_defaults:
                found = await self._list_pod_defaults()
                labels = pod_default_labels(spec.pod_defaults, found, where, self.extra_labels)
                self.extra_labels = {**{key: literal(value) for key, value in labels.items()}, **self.extra_labels}
        except Refused as e:
            raise WorkspaceSpawnFailed(str(e), reason="spec", status_code=400) from None

    async def _list_pod_defaults(self) -> list[dict[str, Any]]:
        api = CustomObjectsApi(self.api.api_client)
        try:
            found = await self._api_call(
                partial(api.list_namespaced_custom_object, "kubeflow.org", "v1alpha1", self.namespace, "poddefaults"),
                f"list PodDefaults in {self.namespace}",
            )
        except ApiException as e:
            if e.status != 404:
                raise
            raise Refused(
                "pod_defaults", "this cluster has no Kubeflow PodDefaults (kubeflow.org/v1alpha1); remove pod_defaults"
            ) from None
        return found.get("items", [])

    # -- the spec -----------------------------------------------------------------

    def _apply_image_security(self, image: ImageEntry) -> None:
        pod, container = self._security_contexts
        if callable(pod) or callable(container):
            if image.security != ImageSecurity():
                self.log.warning(
                    "Image %s needs %s, which is not added to security contexts configured as callables",
                    image.id, image.security.needs(),
                )
            return
        self.pod_security_context, self.container_security_context = pod_security.for_image(pod, container, image.security)

    async def load_user_options(self) -> None:
        """The workspace spec replaces KubeSpawner's profile_list (and its own
        meaning of the ``profile`` option): apply_spec has already applied it."""

    def apply_resolved_spec(self, resolved: ResolvedSpec) -> None:
        image, profile = resolved.image, resolved.profile
        settings = self.workspaces_settings
        self.image = image.image
        self.image_pull_policy = image.pull_policy
        for trait, value in placement_traits(profile, resolved.gpus).items():
            setattr(self, trait, value)
        placeholders = settings.settings.kubernetes.placeholders
        if placeholders.enabled:
            # above the placeholders' class, so the scheduler preempts one for this pod
            self.priority_class_name = placeholders.workspace_priority_class
        self._apply_image_security(image)
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
            claim = {"claimName": literal(volume.claim), "readOnly": volume.read_only}
            volumes.append({"name": f"data-{i}", "persistentVolumeClaim": claim})
            mounts.append({"name": f"data-{i}", "mountPath": literal(volume.mount_path), "readOnly": volume.read_only})
        self.volumes = volumes
        self.volume_mounts = mounts
