"""Keep a set of Kubernetes objects that the hub owns as it wants them: create, update, delete.

The hub's small controllers (the pre-puller, the placeholders) each own a few
objects of one kind in one namespace, found by their labels. :class:`OwnedObjects`
makes what is there match what is wanted in one :meth:`~OwnedObjects.sync`:

- an object wanted and missing is created, one whose wanted spec changed is
  updated, by server-side apply (field manager ``workspaces``): a field the
  hub stopped writing is removed, which a merge patch would leave behind;
- an object that carries the owner labels but is no longer wanted is deleted;
  nothing without them is ever touched, so two hubs (or a hub and a person)
  can share a namespace: a wanted name already taken by an object without
  the labels is left as it is, logged, and reported in ``Changes.conflicts``
  (server-side apply with ``force`` would otherwise take it over). For that,
  the LIST is of every object of the kind there, not only the labelled ones;
- "changed" is decided by a hash of the wanted object kept in an annotation,
  so a sync with nothing to do makes one LIST and no writes.

A failed request raises (:class:`kubernetes_asyncio.client.ApiException`);
the caller retries (:func:`run_controller` retries with backoff and never
raises).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiException

SPEC_HASH = "workspaces.jupyter.org/spec-hash"
FIELD_MANAGER = "workspaces"


@dataclass(frozen=True)
class Kind:
    """One kind of object, by the client API class and its method suffix.

    ``Kind(AppsV1Api, "namespaced_daemon_set", "apps/v1", "DaemonSet")`` calls
    ``list_namespaced_daemon_set`` and so on; a cluster-scoped kind
    (``Kind(SchedulingV1Api, "priority_class", "scheduling.k8s.io/v1", "PriorityClass")``)
    is called without a namespace.
    """

    api_class: Any
    suffix: str
    api_version: str
    kind: str

    @property
    def namespaced(self) -> bool:
        return self.suffix.startswith("namespaced_")


@dataclass
class Changes:
    """What one sync did, by object name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # wanted names taken by objects the hub does not own

    def __bool__(self) -> bool:  # whether anything was written
        return bool(self.created or self.updated or self.deleted)


def spec_hash(body: dict[str, Any]) -> str:
    """A short hash of an object as wanted (key order does not matter)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


class OwnedObjects:
    """The objects of one ``kind`` in ``namespace`` (None: cluster-scoped) that carry ``labels``."""

    def __init__(self, api_client: Any, kind: Kind, labels: dict[str, str], namespace: str | None = None,
                 log: logging.Logger | None = None, request_timeout: float = 10):
        if kind.namespaced != (namespace is not None):
            raise ValueError(f"{kind.kind}: a namespace is needed exactly when the kind is namespaced")
        self.api = kind.api_class(api_client)
        self.kind = kind
        self.labels = dict(labels)
        self.namespace = namespace
        self.log = log or logging.getLogger("workspaces.owned")
        self.request_timeout = request_timeout

    def _call(self, verb: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        method = getattr(self.api, f"{verb}_{self.kind.suffix}")
        if self.namespace is not None:
            # the client's signatures: (name, namespace, body) and (namespace, body)
            args = (*args[:1], self.namespace, *args[1:]) if verb in ("patch", "delete") else (self.namespace, *args)
        return method(*args, _request_timeout=self.request_timeout, **kwargs)

    async def existing(self) -> dict[str, dict[str, Any]]:
        """Every object of the kind there now, by name: its annotations, and whether it carries the owner labels."""
        found = await self._call("list")
        return {
            item.metadata.name: {
                "annotations": item.metadata.annotations or {},
                "owned": self.labels.items() <= (item.metadata.labels or {}).items(),
            }
            for item in found.items
        }

    def _owned(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with apiVersion, kind, the owner labels, the namespace and the hash annotation."""
        meta = dict(body.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), **self.labels}
        if self.namespace is not None:
            meta["namespace"] = self.namespace
        wanted = {**body, "apiVersion": self.kind.api_version, "kind": self.kind.kind, "metadata": meta}
        meta["annotations"] = {**(meta.get("annotations") or {}), SPEC_HASH: spec_hash(wanted)}
        return wanted

    async def sync(self, wanted: list[dict[str, Any]]) -> Changes:
        """Make the owned objects exactly ``wanted`` (each with at least ``metadata.name``)."""
        names = [body["metadata"]["name"] for body in wanted]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.kind.kind}: two wanted objects share a name: {sorted(names)}")
        there = await self.existing()
        changes = Changes()
        for body in wanted:
            name, owned = body["metadata"]["name"], self._owned(body)
            current = there.get(name)
            if current is not None and not current["owned"]:
                self.log.error("%s %s exists and is not the hub's (labels %s missing): left as it is, not made",
                               self.kind.kind, name, self.labels)
                changes.conflicts.append(name)
                continue
            if current is not None and current["annotations"].get(SPEC_HASH) == owned["metadata"]["annotations"][SPEC_HASH]:
                continue
            # server-side apply: creates, or replaces the fields this manager wrote; force takes over
            # fields someone else changed by hand (the hub's objects are the hub's)
            await self._call(
                "patch", name, owned, field_manager=FIELD_MANAGER, force=True,
                _content_type="application/apply-patch+yaml",
            )
            (changes.updated if current is not None else changes.created).append(name)
        for name in sorted({name for name, found in there.items() if found["owned"]} - set(names)):
            try:
                await self._call("delete", name, propagation_policy="Background")
            except ApiException as e:
                if e.status != 404:  # already gone: what was wanted
                    raise
            changes.deleted.append(name)
        return changes


async def run_controller(
    step: Callable[[], Awaitable[float]],
    what: str,
    log: logging.Logger,
    stopping: asyncio.Event,
    backoff: tuple[float, float] = (1, 60),
) -> None:
    """Run ``step`` until ``stopping`` is set; ``step`` returns the seconds to wait before the next run.

    A step that raises is logged and retried after a pause that doubles from
    ``backoff[0]`` up to ``backoff[1]``, and back to the start after a success:
    an API server that is down or refuses never stops the hub or the loop.
    """
    pause = backoff[0]
    while not stopping.is_set():
        try:
            wait = await step()
            pause = backoff[0]
        except asyncio.CancelledError:
            raise
        except Exception as e:
            detail = f"{e.status} {e.reason}" if isinstance(e, ApiException) else f"{type(e).__name__}: {e}"
            log.warning("%s failed (%s); retrying in %gs", what, detail, pause)
            wait, pause = pause, min(pause * 2, backoff[1])
        try:
            await asyncio.wait_for(stopping.wait(), wait)
        except asyncio.TimeoutError:
            pass
