"""Placeholders: low-priority pods that keep room for the next workspace starts.

For each profile with ``placeholders: N`` the hub keeps one Deployment of N
pause pods, each reserving exactly what a workspace of that profile reserves
(requests, limits, GPUs, node selector, tolerations, affinity: the same
:func:`spawner.pod_placement.placement_traits` and KubeSpawner's ``make_pod``
build both pods, so they cannot drift apart). The placeholders' PriorityClass
is below the workspaces': a starting workspace that finds no free room makes
the scheduler preempt a placeholder instead of waiting for a new node, and the
preempted placeholder, re-created by its Deployment, goes Pending, which is
what makes a cluster autoscaler add the node for the next start.

The hub, not the chart, keeps them: profiles change with the catalog (no
``helm upgrade``), and only the hub builds a workspace's pod. The chart makes
the two PriorityClasses (cluster-scoped, which the hub has no right to write;
without the chart: config/kubernetes/placeholders.yaml).
Placeholders run in one namespace (the hub's, in the chart): preemption works
across namespaces, and no user's namespace or ResourceQuota is charged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubernetes_asyncio.client import ApiException, AppsV1Api
from kubespawner.objects import make_pod

from workspaces.catalog import Catalog, CatalogStore, Profile
from workspaces.config import KubernetesSettings

from . import pod_security
from .owned_objects import Changes, Kind, OwnedObjects, run_controller
from .pod_placement import placement_traits

# the smallest image there is: it sleeps, and holds the room the scheduler reserved for it
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
DEPLOYMENTS = Kind(AppsV1Api, "namespaced_deployment", "apps/v1", "Deployment")
OWNER_LABELS = {"app.kubernetes.io/managed-by": "workspaces", "app.kubernetes.io/component": "placeholder"}
PROFILE_LABEL = "workspaces.jupyter.org/profile"


def deployment_name(profile: Profile) -> str:
    return f"placeholder-{profile.id}"


def placeholder_deployment(profile: Profile, settings: KubernetesSettings, serialize: Any) -> dict[str, Any]:
    """The Deployment of ``profile``'s placeholders; ``serialize``: an ApiClient's sanitize_for_serialization."""
    labels = {**OWNER_LABELS, PROFILE_LABEL: profile.id}
    pod = make_pod(
        name="placeholder",
        cmd=None,  # the pause image's own entrypoint
        port=8888,  # unused: nothing listens
        image=PAUSE_IMAGE,
        image_pull_policy="IfNotPresent",
        labels=labels,
        pod_security_context=pod_security.pod_context(),
        container_security_context=pod_security.container_context(),
        automount_service_account_token=False,  # it calls no API
        priority_class_name=settings.placeholders.priority_class,
        **placement_traits(profile, profile.gpu.count),
    )
    pod = serialize(pod)
    # a pod template is a pod's metadata and spec only; the Deployment names its pods
    template = {"metadata": {k: v for k, v in pod["metadata"].items() if k != "name"}, "spec": pod["spec"]}
    template["spec"]["restartPolicy"] = "Always"  # the only policy a Deployment allows
    # a preempted placeholder goes at once: its room is the workspace's
    template["spec"]["terminationGracePeriodSeconds"] = 0
    return {
        "metadata": {"name": deployment_name(profile), "labels": {PROFILE_LABEL: profile.id}},
        "spec": {
            "replicas": profile.placeholders,
            "selector": {"matchLabels": labels},
            # Recreate: an edited profile must not keep old and new placeholders both holding room
            "strategy": {"type": "Recreate"},
            "template": template,
        },
    }


def wanted_deployments(catalog: Catalog, settings: KubernetesSettings, serialize: Any) -> list[dict[str, Any]]:
    """One Deployment per profile that asks for placeholders (hidden ones too: their workspaces still start)."""
    return [placeholder_deployment(p, settings, serialize) for p in catalog.profiles if p.placeholders > 0]


class PlaceholderController:
    """Keeps the placeholders' Deployments as the profiles of the catalog in force say."""

    def __init__(self, store: CatalogStore, settings: KubernetesSettings, api_client: Any,
                 log: logging.Logger | None = None):
        self.store = store
        self.settings = settings
        self.api_client = api_client
        self.log = log or logging.getLogger("workspaces.placeholders")
        namespace = settings.placeholders.namespace or settings.namespace
        self.owned = OwnedObjects(api_client, DEPLOYMENTS, OWNER_LABELS, namespace, log=self.log)

    async def sync(self) -> Changes:
        """Make the Deployments match the catalog now."""
        wanted = (
            wanted_deployments(self.store.current(), self.settings, self.api_client.sanitize_for_serialization)
            if self.settings.placeholders.enabled
            else []  # turned off: the ones kept before go
        )
        changes = await self.owned.sync(wanted)
        if changes:
            self.log.info(
                "Placeholders in %s: created %s, updated %s, deleted %s",
                self.owned.namespace, changes.created or "none", changes.updated or "none", changes.deleted or "none",
            )
        return changes

    async def run(self, stopping: asyncio.Event) -> None:
        """Sync every ``placeholders.interval`` seconds (the catalog's files are checked as often) until ``stopping``."""

        async def step() -> float:
            await self.sync()
            return self.settings.placeholders.interval

        await run_controller(step, "Keeping the placeholders", self.log, stopping)


async def keep_placeholders(store: CatalogStore, log: logging.Logger | None = None) -> None:
    """The workspaces API service's task on Kubernetes, from its start until it stops (cancelled then).

    With placeholders on, it keeps them; off, it removes once any that an
    earlier configuration left (the chart keeps the hub's right to do so).
    """
    from workspaces.api.kube import api_client

    # a logger of its own, which the service's log shows at INFO (the Application's own shows warnings only)
    log = log or logging.getLogger("workspaces.placeholders")

    try:
        client = await api_client()
    except Exception as e:  # no credentials: say so once; workspaces still start, without headroom
        log.error("Placeholders are not kept: no Kubernetes credentials (%s)", e)
        return
    async with client:
        controller = PlaceholderController(store, store.config.settings.kubernetes, client, log)
        if store.config.settings.kubernetes.placeholders.enabled:
            await controller.run(asyncio.Event())
            return
        try:
            await controller.sync()
        except Exception as e:  # an install without the placeholders' Role has none to remove
            detail = f"{e.status} {e.reason}" if isinstance(e, ApiException) else f"{type(e).__name__}: {e}"
            log.info("Placeholders are off; could not look for any left from before (%s)", detail)
