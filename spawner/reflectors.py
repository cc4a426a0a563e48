"""The hub's view of workspace pods and their events: one watch each, cluster-wide.

KubeSpawner keeps one pod watch and one event watch per namespace it has
used, so a hub serving Kubeflow profiles holds two connections per profile
namespace. These reflectors watch every namespace at once, pods selected by
the workspaces label, events narrowed to workspace pods, so the hub holds two
connections however many namespaces there are. That needs list and watch on
pods and events cluster-wide (see the README's RBAC rules). A third watch,
of nodes, feeds the form's capacity hint.

They also never give up: KubeSpawner's reflector stops for good after its
backoff passes 30 s. A stopped reflector would leave the hub with a frozen
view, so these start over after a pause, keeping the last view meanwhile.

At thousands of pods, KubeSpawner's list (at start, and again at every watch
restart, every 10 s) parses one response of every pod on the event loop: 2.5 s
during which the hub answers nobody, and a cache of about 52 KB per pod. These
list in pages (``list_page_size`` objects, ``limit``/``continue``), so the loop
runs between pages, and the pod cache keeps only what the spawner reads
(:func:`slim_pod`), from the list and from the watch alike. A page of pods is
decoded straight into that slim shape (msgspec, typed by :data:`POD_FIELDS`),
skipping the rest of each pod unread: 3 ms of the event loop per page of 100
pods where parsing it whole and then slimming it took 17. A relist keeps the
cached pods that did not change, and the collector does not run while a page
is parsed: otherwise each relist's new objects set off full collections of
the hub's whole heap (half a second each, measured at 5,000 pods).
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypedDict

import msgspec
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiException
from kubespawner.reflector import ResourceReflector
from kubespawner.spawner import EventReflector, PodReflector
from traitlets import Float, Int, Unicode

from workspaces.capacity_kube import Cached, scheduled_pods

# Selects the pods this product made; KubeSpawner also writes component=<component_label>.
POD_LABELS = {"app.kubernetes.io/managed-by": "workspaces", "component": "workspace"}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection in the block; for parsing a page, which must not block long.

    A parsed page is a tree without cycles, freed by reference counting as soon
    as it is dropped; collections run while it is alive would only move its
    objects to older generations, and those moves are what trigger the full
    collections. Nothing awaits inside, so nothing else runs meanwhile.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Persistent(ResourceReflector):
    retry_pause = Float(30, help="Seconds between a watch that gave up and the next attempt.")

    list_page_size = Int(
        100,
        config=True,
        help="""Objects per page of a list (the first one, and each relist at a watch restart).

        The event loop parses one page at a time and serves requests between
        pages: a smaller page, a shorter pause; a larger one, fewer requests.
        100 workspace pods are about 1 MB of JSON, 10-15 ms of parsing on one
        core; 250 took 40 ms, too close to the 100 ms the hub may pause.
        """,
    )

    def _cache(self) -> dict[str, Any]:
        """The dict a list fills and the watch then updates; a subclass's may trim or drop objects."""
        return {}

    def _parse_page(self, raw: bytes) -> dict[str, Any]:
        """A page of a list (``items`` and ``metadata``), its items as :meth:`_keep` takes them."""
        return json.loads(raw)

    def _keep(self, kept: dict[str, Any], key: str, item: dict[str, Any]) -> None:
        kept[key] = item

    async def _list_and_update(self, resource_version: str | None = None) -> str:
        """KubeSpawner's list, in pages of ``list_page_size``; the view is replaced once the last page is in.

        A list from resourceVersion "0" (KubeSpawner's first, and after an
        error) is served whole from the API server's cache, which ignores
        ``limit``; so such a list asks for the current state instead, which
        pages. A newer version is kept as the lower bound (NotOlderThan) of the
        first page; the rest follow its ``continue`` token, as the API requires.
        """
        query: dict[str, Any] = dict(
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            limit=self.list_page_size,
            _request_timeout=self.request_timeout,
            _preload_content=False,
        )
        if resource_version not in (None, "0"):
            query.update(resource_version=resource_version, resource_version_match="NotOlderThan")
        if not self.omit_namespace:
            query["namespace"] = self.namespace
        list_method = getattr(self.api, self.list_method_name)
        kept = self._cache()
        while True:
            response = await list_method(**query)
            if not response.ok:
                self.log.error("Listing %s failed: %s %s", self.kind, response.status, await response.text())
                raise ApiException(status=response.status, reason=response.reason)
            raw = await response.read()
            with _collector_paused():
                page = self._parse_page(raw)
                for item in page["items"]:
                    self._keep(kept, f'{item["metadata"]["namespace"]}/{item["metadata"]["name"]}', item)
                token, version = page["metadata"].get("continue"), page["metadata"]["resourceVersion"]
                del page, raw  # freed here, by reference counting
            if not token:
                break
            query.pop("resource_version", None)
            query.pop("resource_version_match", None)
            query["_continue"] = token
        self.resources = kept  # one assignment: readers see the old view or the new, never half
        if not self.first_load_future.done():
            self.first_load_future.set_result(None)
        return version

    async def _watch_and_update(self) -> None:
        while True:
            await super()._watch_and_update()
            if self._stopping:
                return
            self.log.critical(
                "Watching %s failed for good; keeping the last known state and trying again in %ss",
                self.kind,
                self.retry_pause,
            )
            await asyncio.sleep(self.retry_pause)


# What of a pod is cached, and who reads it. ``True``: the value whole; a dict:
# those of its keys; a one-element list: each item, shaped by the element.
# Keys absent from the pod stay absent (KubeSpawner tells "no podIP yet" by that).
_STATE = {"waiting": {"reason": True, "message": True}, "terminated": {"exitCode": True, "reason": True}, "running": {}}
_CONTAINER_STATUS = {
    "name": True,  # KubeSpawner's poll: the "notebook" container's exit code
    "ready": True,  # is_pod_running
    "image": True,  # pod_failures: the image that cannot be pulled
    "state": _STATE,  # poll (terminated.exitCode), pod_failures (waiting reason and message)
    "lastState": {"terminated": {"exitCode": True}},  # pod_failures: a crash loop's last exit code
}
POD_FIELDS: dict[str, Any] = {
    "metadata": {
        "name": True,  # the cache's key
        "namespace": True,  # the cache's key; the Kubeflow namespace recovery (spawner.kubernetes)
        "uid": True,  # a stale pod told from a new one, events matched to the pod, owner references
        "resourceVersion": True,  # a relist keeps the cached pod while this is unchanged (_SlimPods)
        "labels": True,  # the Kubeflow namespace recovery: owner and workspace labels
        "deletionTimestamp": True,  # is_pod_running, pod_failures: a pod going away
    },
    "spec": {
        # KubeSpawner's _get_pod_port: the port named notebook-port
        "containers": [{"name": True, "ports": [{"name": True, "containerPort": True}]}],
    },
    "status": {
        "phase": True,  # poll, is_pod_running, pod_failures
        "podIP": True,  # the server's URL (get_url, _get_pod_url, poll's URL check)
        "nominatedNodeName": True,  # pod_failures: a preemption making room
        "conditions": [{"type": True, "status": True, "reason": True, "message": True}],  # pod_failures: Unschedulable
        "containerStatuses": [_CONTAINER_STATUS],
        "initContainerStatuses": [_CONTAINER_STATUS],  # pod_failures: an init container that cannot start
    },
}


def _shape(value: Any, fields: Any) -> Any:
    if fields is True:
        return value
    if isinstance(fields, list):
        return [_shape(item, fields[0]) for item in value] if isinstance(value, list) else value
    if not isinstance(value, dict):
        return value
    # the keys are the table's own strings, shared by every cached pod
    return {key: _shape(value[key], inner) for key, inner in fields.items() if key in value}


def slim_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """What of ``pod`` the cache keeps: the fields of :data:`POD_FIELDS`, which the
    spawner and KubeSpawner read; annotations, managedFields, volumes, env and the
    rest of the spec are dropped (about 9 of every 10 bytes of a workspace pod)."""
    return _shape(pod, POD_FIELDS)


def _typed(name: str, fields: Any) -> Any:
    """The msgspec type that decodes JSON into the shape :func:`_shape` gives ``fields``.

    Keys outside the table are skipped by the decoder without being built, and
    keys the JSON lacks stay absent (``total=False``), as with :func:`_shape`.
    """
    if fields is True:
        return Any
    if isinstance(fields, list):
        return list[_typed(name, fields[0])] | None
    return TypedDict(name, {key: _typed(f"{name}_{key}", inner) for key, inner in fields.items()}, total=False) | None


_PodPage = TypedDict("_PodPage", {"items": list[_typed("SlimPod", POD_FIELDS)], "metadata": dict[str, Any]})
_decode_pod_page = msgspec.json.Decoder(_PodPage).decode


def slim_pod_page(raw: bytes) -> dict[str, Any]:
    """A page of a pod list (JSON), its items as :func:`slim_pod` would make them.

    Decoded straight into that shape; a page the typed decoder refuses (a field
    of another type than the API documents, which :func:`_shape` passes through
    as it is) is parsed whole and slimmed instead, so one odd pod never keeps
    the others out of the cache.
    """
    try:
        return _decode_pod_page(raw)
    except msgspec.ValidationError:
        page = json.loads(raw)
        page["items"] = [slim_pod(item) for item in page["items"]]
        return page


class _SlimPods(dict):
    """Pods as :func:`slim_pod` keeps them, whether from a list or the watch.

    A pod of ``reuse`` (the view a relist replaces) at the same resourceVersion
    is kept as it is: a relist then makes new objects only for pods that changed,
    and the collector has little new to track.
    """

    def __init__(self, reuse: dict[str, Any] | None = None):
        super().__init__()
        self.reuse = reuse or {}

    def __setitem__(self, key: str, pod: dict[str, Any]) -> None:
        self._put(key, pod, slim_pod)

    def put_slim(self, key: str, pod: dict[str, Any]) -> None:
        """Keep ``pod``, already slim (:func:`slim_pod_page`)."""
        self._put(key, pod, None)

    def _put(self, key: str, pod: dict[str, Any], slim: Any) -> None:
        cached = self.reuse.get(key)
        version = (pod.get("metadata") or {}).get("resourceVersion")
        if cached is None or version is None or (cached.get("metadata") or {}).get("resourceVersion") != version:
            cached = slim(pod) if slim else pod
        super().__setitem__(key, cached)


class WorkspacePodReflector(_Persistent, PodReflector):
    """Every workspace pod of the cluster, keyed ``namespace/name``, slimmed (:func:`slim_pod`)."""

    def _cache(self) -> dict[str, Any]:
        return _SlimPods(reuse=self.resources)

    def _parse_page(self, raw: bytes) -> dict[str, Any]:
        return slim_pod_page(raw)

    def _keep(self, kept: dict[str, Any], key: str, item: dict[str, Any]) -> None:
        kept.put_slim(key, item)

    async def _list_and_update(self, resource_version: str | None = None) -> str:
        version = await super()._list_and_update(resource_version)
        self.resources.reuse = {}  # the replaced view may go now
        return version


# What a workspace's start hears about: its pod, and its claim being provisioned.
EVENT_KINDS = frozenset({"Pod", "PersistentVolumeClaim"})


class _WorkspaceEvents(dict):
    """Events of workspace pods and claims only; others are dropped as they arrive."""

    prefix = ""

    def __setitem__(self, key: str, event: dict[str, Any]) -> None:
        involved = event.get("involvedObject", {})
        if involved.get("kind") in EVENT_KINDS and involved.get("name", "").startswith(self.prefix):
            super().__setitem__(key, event)


class WorkspaceEventReflector(_Persistent, EventReflector):
    """Events of workspace pods and claims (by name prefix) in every namespace.

    Kubernetes cannot select events by their object's labels, nor by two
    kinds at once, so the watch carries every event and the cache keeps only
    those of workspace pods and claims (which share the pod's name).
    """

    pod_name_prefix = Unicode("ws-", help="Names of the pods whose events are kept.")

    def _cache(self) -> dict[str, Any]:
        kept = _WorkspaceEvents()
        kept.prefix = self.pod_name_prefix
        return kept


class NodeReflector(ResourceReflector):
    """Every node of the cluster, keyed by name: the form's capacity hint (workspaces.capacity).

    KubeSpawner's reflector keys objects by namespace, which a node has not,
    so the list and the watch are its own; the rest (start, stop, first load)
    is KubeSpawner's. A list that fails (no RBAC rule for nodes, the API server
    away) never stops the hub: the last view stays (none at first: the form
    says the figures are not known), and the next try comes after ``retry_pause``.
    """

    kind = Unicode("nodes")
    list_method_name = Unicode("list_node")
    retry_pause = Float(30, help="Seconds between a failed list or watch of nodes and the next try.")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # what the nodes hold: every scheduled pod, listed when a form asks (workspaces.capacity_kube)
        self.pods: Cached[list[dict[str, Any]]] = Cached(lambda: scheduled_pods(self.api.api_client))

    async def _list_and_update(self, resource_version: str | None = None) -> str | None:
        try:
            response = await self.api.list_node(_preload_content=False, _request_timeout=self.request_timeout)
            if not 200 <= response.status <= 299:
                raise ApiException(status=response.status, reason=response.reason)
            listed = json.loads(await response.read())
            self.resources = {node["metadata"]["name"]: node for node in listed["items"]}
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the last view stays, as with the pod watch
            self.log.warning("Cannot list the cluster's nodes: %s", e)
            listed = None
        if not self.first_load_future.done():
            self.first_load_future.set_result(None)
        return listed["metadata"]["resourceVersion"] if listed else None

    async def _watch_and_update(self) -> None:
        try:
            await self._follow()
        except asyncio.CancelledError:  # stop() cancels; the view simply ends
            pass

    async def _follow(self) -> None:
        version = await self._list_and_update()  # as KubeSpawner's watch does: from a fresh list
        while not self._stopping:
            if version is None:
                await asyncio.sleep(self.retry_pause)
                version = await self._list_and_update()
                continue
            try:
                w = watch.Watch()
                method = partial(self.api.list_node, _preload_content=False)
                async with w.stream(method, resource_version=version, timeout_seconds=self.timeout_seconds,
                                    _request_timeout=self.request_timeout) as stream:
                    async for event in stream:
                        node = event["raw_object"]
                        if event["type"] == "DELETED":
                            self.resources.pop(node["metadata"]["name"], None)
                        else:
                            self.resources[node["metadata"]["name"]] = node
                            version = node["metadata"]["resourceVersion"]
            except asyncio.CancelledError:
                raise
            except Exception as e:  # 410 Gone among them: start over from a fresh list
                self.log.warning("Watching nodes failed, listing them again: %s", e)
                version = None
                continue
            version = await self._list_and_update()  # the watch timed out, as it does: renew it
