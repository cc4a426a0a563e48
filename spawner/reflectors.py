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
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiException
from kubespawner.reflector import ResourceReflector
from kubespawner.spawner import EventReflector, PodReflector
from traitlets import Float, Unicode

from workspaces.capacity_kube import Cached, scheduled_pods

# Selects the pods this product made; KubeSpawner also writes component=<component_label>.
POD_LABELS = {"app.kubernetes.io/managed-by": "workspaces", "component": "workspace"}


class _Persistent(ResourceReflector):
    retry_pause = Float(30, help="Seconds between a watch that gave up and the next attempt.")

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


class WorkspacePodReflector(_Persistent, PodReflector):
    """Every workspace pod of the cluster, keyed ``namespace/name``."""


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

    async def _list_and_update(self, resource_version: str | None = None) -> str:
        version = await super()._list_and_update(resource_version)
        kept = _WorkspaceEvents()
        kept.prefix = self.pod_name_prefix
        for key, event in self.resources.items():
            kept[key] = event
        self.resources = kept
        return version


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
