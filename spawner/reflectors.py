"""The hub's view of workspace pods and their events: one watch each, cluster-wide.

KubeSpawner keeps one pod watch and one event watch per namespace it has
used, so a hub serving Kubeflow profiles holds two connections per profile
namespace. These reflectors watch every namespace at once, pods selected by
the workspaces label, events narrowed to workspace pods, so the hub holds two
connections however many namespaces there are. That needs list and watch on
pods and events cluster-wide (see the README's RBAC rules).

They also never give up: KubeSpawner's reflector stops for good after its
backoff passes 30 s. A stopped reflector would leave the hub with a frozen
view, so these start over after a pause, keeping the last view meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubespawner.reflector import ResourceReflector
from kubespawner.spawner import EventReflector, PodReflector
from traitlets import Float, Unicode

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
