"""The pre-puller: every image the catalog offers, pulled onto the nodes that can run it, as the catalog changes.

zero-to-jupyterhub pulls the images its values name, at ``helm install`` or
``upgrade``; an image an admin adds later is pulled by the first workspace that
uses it, which waits minutes. Here the workspaces API service keeps the
DaemonSets in step with the catalog in force (its file and the admins' edits
through the API), so an added image is being pulled within ``interval``
seconds, without a ``helm upgrade``.

Where an image is pulled follows where its workspaces can run. A *placement*
is what confines a profile's pods to nodes: its node selector, its
tolerations and its required node affinity (preferences and pod affinity
confine nothing). There is one DaemonSet per distinct placement among the
offered profiles, named by a hash of the placement, and its init containers
are the images that may run with those profiles:

- a GPU image (``gpu: true``) with the profiles that give GPUs (``gpu.max``
  above 0): a CUDA image is pulled onto GPU nodes only;
- any other image with the profiles that give none by default (``gpu.count``
  0): it is not pulled onto GPU nodes that only GPU workspaces may use;
- an image with no profile of its kind, with every offered profile.

Hidden images and profiles are not offered, so not pulled. Each init
container runs ``prepull.command`` (zero-to-jupyterhub's ``echo``) and exits;
the pod then keeps only the pause container, which uses almost nothing. The
pods meet Pod Security "restricted" (the security context of workspaces,
without the image's own needs: nothing of the image runs but the command).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import AppsV1Api

from workspaces.catalog import Catalog, CatalogStore, ImageEntry, Profile
from workspaces.config import PrepullSettings

from . import pod_security
from .owned_objects import Changes, Kind, OwnedObjects, run_controller
from .pod_placement import placement_traits

DAEMON_SETS = Kind(AppsV1Api, "namespaced_daemon_set", "apps/v1", "DaemonSet")
OWNER_LABELS = {"app.kubernetes.io/managed-by": "workspaces", "app.kubernetes.io/component": "prepuller"}
PLACEMENT_LABEL = "workspaces.jupyter.org/placement"
PROFILES_ANNOTATION = "workspaces.jupyter.org/profiles"
# a pull's init container and the pause container reserve next to nothing: they run on every node
RESOURCES = {"requests": {"cpu": "1m", "memory": "4Mi"}, "limits": {"memory": "32Mi"}}


@dataclass(frozen=True)
class Placement:
    """The nodes a profile's pods may land on: node selector, tolerations, required node affinity (as the pod has them)."""

    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    node_affinity_required: list[dict[str, Any]]

    @classmethod
    def of(cls, profile: Profile) -> Placement:
        # the same traits as the workspace pod's (spawner.pod_placement): they cannot drift apart
        traits = placement_traits(profile, 0)
        return cls(traits["node_selector"], traits["tolerations"], traits["node_affinity_required"])

    @property
    def key(self) -> str:
        """Stable across restarts (selector keys sorted): the DaemonSet's name and label."""
        text = json.dumps([self.node_selector, self.tolerations, self.node_affinity_required], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        if self.node_selector:
            spec["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            spec["tolerations"] = list(self.tolerations)
        if self.node_affinity_required:
            required = {"nodeSelectorTerms": list(self.node_affinity_required)}
            spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
        return spec


def profiles_for(image: ImageEntry, profiles: list[Profile]) -> list[Profile]:
    """The offered profiles whose nodes ``image`` is pulled onto (see the module's docstring)."""
    if image.gpu:
        mine = [p for p in profiles if p.gpu.max_count > 0]
    else:
        mine = [p for p in profiles if p.gpu.count == 0]
    return mine or profiles


def placements(catalog: Catalog) -> list[tuple[Placement, list[Profile], list[ImageEntry]]]:
    """Each placement among the offered profiles, with its profiles and the images pulled there (catalog order)."""
    profiles = [p for p in catalog.profiles if not p.hidden]
    found: dict[str, tuple[Placement, list[Profile], list[ImageEntry]]] = {}
    for profile in profiles:
        placement = Placement.of(profile)
        found.setdefault(placement.key, (placement, [], []))[1].append(profile)
    for image in catalog.images:
        if image.hidden:
            continue
        for profile in profiles_for(image, profiles):
            images = found[Placement.of(profile).key][2]
            if image not in images:
                images.append(image)
    return [(placement, ps, images) for placement, ps, images in found.values() if images]


def container_name(image: ImageEntry) -> str:
    name = f"pull-{image.id}"
    if len(name) > 63:  # ids are DNS labels (at most 63): keep them apart with a hash
        name = f"pull-{image.id[:47]}-{hashlib.sha256(image.id.encode()).hexdigest()[:10]}"
    return name


def daemon_set(placement: Placement, profiles: list[Profile], images: list[ImageEntry],
               settings: PrepullSettings) -> dict[str, Any]:
    """The DaemonSet that pulls ``images`` onto the nodes of ``placement``."""
    security = {**pod_security.container_context(), "allowPrivilegeEscalation": False}
    pulls, seen = [], set()
    for image in images:
        if image.image in seen:  # two entries of one image: one pull
            continue
        seen.add(image.image)
        pulls.append({
            "name": container_name(image),
            "image": image.image,
            # a pull, not a run: "Never" would fail here and hold the pulls after it
            "imagePullPolicy": "Always" if image.pull_policy == "Always" else "IfNotPresent",
            "command": list(settings.command),
            "securityContext": security,
            "resources": RESOURCES,
        })
    selector = {**OWNER_LABELS, PLACEMENT_LABEL: placement.key}
    pause = {"name": "pause", "image": settings.pause_image, "imagePullPolicy": "IfNotPresent",
             "securityContext": security, "resources": RESOURCES}
    return {
        "metadata": {
            "name": f"prepull-{placement.key}",
            "labels": {PLACEMENT_LABEL: placement.key},
            "annotations": {PROFILES_ANNOTATION: ",".join(p.id for p in profiles)},
        },
        "spec": {
            "selector": {"matchLabels": selector},
            # a new image is pulled on every node at once, not node by node
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
            "template": {
                "metadata": {"labels": selector},
                "spec": {
                    "initContainers": pulls,
                    "containers": [pause],
                    "securityContext": pod_security.pod_context(),
                    "automountServiceAccountToken": False,  # it calls no API
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 0,
                    **placement.pod_spec(),
                },
            },
        },
    }


def wanted_daemon_sets(catalog: Catalog, settings: PrepullSettings) -> list[dict[str, Any]]:
    """The DaemonSets the catalog asks for, ordered by name; none when the pre-puller is off."""
    if not settings.enabled:
        return []
    found = [daemon_set(placement, ps, images, settings) for placement, ps, images in placements(catalog)]
    return sorted(found, key=lambda d: d["metadata"]["name"])


def _images(body: dict[str, Any]) -> list[str]:
    return [c["image"] for c in body["spec"]["template"]["spec"]["initContainers"]]


class Prepuller:
    """Keeps the pre-pull DaemonSets as the catalog in force says; with the pre-puller off, removes them."""

    def __init__(self, store: CatalogStore, settings: PrepullSettings, namespace: str, api_client: Any,
                 log: logging.Logger | None = None):
        self.store = store
        self.settings = settings
        self.log = log or logging.getLogger("workspaces.prepuller")
        self.owned = OwnedObjects(api_client, DAEMON_SETS, OWNER_LABELS, namespace, log=self.log)
        self._synced: list[dict[str, Any]] | None = None
        self._catalog: Catalog | None = None
        self._synced_at = 0.0

    async def sync(self) -> Changes:
        """Make the DaemonSets match the catalog now (one LIST, and a write per change)."""
        wanted = wanted_daemon_sets(self.store.current(), self.settings)
        changes = await self.owned.sync(wanted)
        before = {d["metadata"]["name"]: _images(d) for d in self._synced or []}
        self._synced, self._synced_at = wanted, time.monotonic()
        for body in wanted:
            name, images = body["metadata"]["name"], _images(body)
            if name not in changes.created + changes.updated:
                continue
            what = f"pulls {', '.join(images)}"
            if name in changes.updated and name in before:  # what changed; after a restart, what it is
                what = ", ".join([f"+{i}" for i in images if i not in before[name]] +
                                 [f"-{i}" for i in before[name] if i not in images]) or "restored"
            self.log.info(
                "Pre-pull DaemonSet %s/%s %s (profiles %s): %s", self.owned.namespace, name,
                "created" if name in changes.created else "updated", body["metadata"]["annotations"][PROFILES_ANNOTATION], what,
            )
        for name in changes.deleted:
            self.log.info("Pre-pull DaemonSet %s/%s deleted: no longer needed", self.owned.namespace, name)
        return changes

    async def step(self) -> float:
        """Sync when the catalog's DaemonSets changed or ``resync`` passed; the seconds until the next check.

        A check of an unchanged catalog is a few ``stat`` calls (the store's),
        so ``interval`` can be short: the DaemonSets are built again only for
        a new catalog, and written only when they differ.
        """
        catalog = self.store.current()
        due = time.monotonic() - self._synced_at >= self.settings.resync
        if catalog is self._catalog and not due:
            return self.settings.interval
        if due or wanted_daemon_sets(catalog, self.settings) != self._synced:
            await self.sync()
        self._catalog = catalog  # only once in force: a failed sync is tried again at the next step
        return self.settings.interval

    async def run(self, stopping: asyncio.Event) -> None:
        """Until ``stopping``: retried with backoff on any error, never raising."""
        await run_controller(self.step, "Keeping the pre-pull DaemonSets", self.log, stopping)


async def keep_prepulled(store: CatalogStore, stopping: asyncio.Event | None = None) -> None:
    """The workspaces API service's task, from its start until it stops (cancelled then).

    Off, it removes once what an earlier run made (a refusal is logged, not
    retried: RBAC may have gone with the pre-puller); on, it keeps the
    DaemonSets until the service stops.
    """
    from workspaces.api.kube import api_client

    # a logger of its own, which the service's log shows at INFO (the Application's own shows warnings only)
    log = logging.getLogger("workspaces.prepuller")
    kube = store.config.settings.kubernetes
    settings = kube.prepull
    try:
        client = await api_client()
    except Exception as e:  # no credentials: say so once; workspaces still start, pulling their image
        log.error("Images are not pre-pulled: no Kubernetes credentials (%s)", e)
        return
    async with client:
        prepuller = Prepuller(store, settings, settings.namespace or kube.namespace, client, log)
        if settings.enabled:
            await prepuller.run(stopping or asyncio.Event())
            return
        try:
            await prepuller.sync()
        except Exception as e:
            # 403: no rule for DaemonSets here, so none of ours either; 404: an API server without DaemonSets
            level = logging.INFO if getattr(e, "status", None) in (403, 404) else logging.WARNING
            log.log(level, "Pre-puller off; could not check for DaemonSets to remove in %s: %s",
                    prepuller.owned.namespace, getattr(e, "reason", e))
