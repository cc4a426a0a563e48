"""What the capacity hint reads from a Kubernetes cluster: nodes, the pods on them, a namespace's quotas.

Shared by the hub (its form and the quota check before a start) and the API
service (``GET /profiles``), each with its own client. The hub keeps its nodes
in one cluster-wide watch (spawner.reflectors.NodeReflector); the pods are
listed when asked, every pod that holds resources on a node, workspace or not,
since the scheduler counts them all. A watch of every pod would cost the hub
memory in proportion to the cluster; a list costs one request per form shown,
and :class:`Cached` bounds that to one per ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from kubernetes_asyncio.client import ApiClient, ApiException, CoreV1Api

# pods that hold resources: scheduled, not finished
SCHEDULED = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"

T = TypeVar("T")


async def _items(response: Any) -> list[dict[str, Any]]:
    # the raw JSON: the client's models would cost more than the figures for a large list
    # (and the client leaves the status to whoever asks for it so)
    if not 200 <= response.status <= 299:
        raise ApiException(status=response.status, reason=response.reason)
    return json.loads(await response.read())["items"]


async def list_nodes(api: ApiClient) -> list[dict[str, Any]]:
    return await _items(await CoreV1Api(api).list_node(_preload_content=False))


async def scheduled_pods(api: ApiClient) -> list[dict[str, Any]]:
    return await _items(await CoreV1Api(api).list_pod_for_all_namespaces(field_selector=SCHEDULED, _preload_content=False))


async def namespace_quotas(api: ApiClient, namespace: str) -> list[dict[str, Any]]:
    return await _items(await CoreV1Api(api).list_namespaced_resource_quota(namespace, _preload_content=False))


class Cached(Generic[T]):
    """The last answer of ``read`` for ``ttl`` seconds: many forms shown at once cost one list.

    Requests that come while a read is under way wait for that read: a burst
    of requests (anyone may ask for the form or GET /profiles) never becomes a
    burst of lists of every pod of the cluster.
    """

    def __init__(self, read: Callable[[], Awaitable[T]], ttl: float = 5.0):
        self.read, self.ttl = read, ttl
        self._value: T | None = None
        self._at = float("-inf")
        self._reading: asyncio.Future[T] | None = None

    async def get(self) -> T:
        if self._value is not None and time.monotonic() - self._at < self.ttl:
            return self._value
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._refresh())
        reading = self._reading
        return await asyncio.shield(reading)

    async def _refresh(self) -> T:
        try:
            value = await self.read()
            self._value, self._at = value, time.monotonic()
            return value
        finally:
            self._reading = None
