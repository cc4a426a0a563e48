"""``GET /profiles``' capacity: whether each profile can start now (workspaces.capacity).

The service is not the hub and shares none of its memory: locally it reads
the GPU leases the hub publishes in its data directory; on Kubernetes it lists
the nodes and the pods on them with the hub's credentials (a list every few
seconds at most, not a watch: the service answers few such requests).
Only figures come out, never whose workspaces hold what.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import ApiException

from ..capacity import UNKNOWN, Capacity, Need, kube_capacity, local_capacity, quota_lines, read_leases
from ..capacity_kube import Cached, list_nodes, namespace_quotas, scheduled_pods
from ..catalog import Profile
from .errors import ApiError


class ProfileCapacity:
    def __init__(self, service: Any, data_dir: Path | None):
        self.service = service
        self.leases = data_dir / "gpu-leases.json" if data_dir else None
        self._cluster = Cached(self._read_cluster)

    async def _read_cluster(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with self.service.cluster("read the nodes and their pods") as client:
            return await list_nodes(client), await scheduled_pods(client)

    async def of(self, profiles: Iterable[Profile]) -> dict[str, Capacity]:
        settings = self.service.settings
        if settings.backend == "kubernetes":
            try:
                nodes, pods = await self._cluster.get()
            except ApiError:  # the profiles are still worth listing
                return {p.id: Capacity(UNKNOWN, "the cluster did not answer") for p in profiles}
            return {p.id: kube_capacity(Need.of(p), nodes, pods, settings.kubernetes.autoscaling) for p in profiles}
        total, in_use = read_leases(self.leases) if self.leases else (None, 0)
        return {p.id: local_capacity(p.gpu.count, total, in_use) for p in profiles}

    async def quotas(self, namespaces: Iterable[str]) -> dict[str, list[str]]:
        """The ResourceQuotas of namespaces the caller may use, a line each ("team-budget: pods 1 of 10 used");
        a namespace not made yet has none. Empty when the cluster does not answer: the list still counts."""
        found: dict[str, list[str]] = {}
        try:
            async with self.service.cluster("read ResourceQuotas") as client:
                for namespace in namespaces:
                    try:
                        found[namespace] = quota_lines(await namespace_quotas(client, namespace))
                    except ApiException as e:
                        if e.status != 404:
                            raise
                        found[namespace] = []
        except ApiError:
            return {}
        return found
