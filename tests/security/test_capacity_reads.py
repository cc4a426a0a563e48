"""Attack: make the hub list every pod of the cluster again and again.

GET /profiles (and the spawn form) say whether each profile fits a node, from
a list of the cluster's nodes and of every scheduled pod. Anyone may ask, as
often and as many at once as they like; each list of every pod is work for the
API server in proportion to the cluster. The lists are shared (workspaces.
capacity_kube.Cached): a burst of requests costs one list of each.
Without it, 20 requests at once would be 20 lists of every pod.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from types import SimpleNamespace

from workspaces.api.capacity import ProfileCapacity
from workspaces.catalog import Profile
from workspaces.config import WorkspacesConfig

from ..k8s.kube import use_cluster

PROFILES = [Profile(id="small", display_name="Small", cpu={"limit": 1}, memory={"limit": "1Gi"})]


def test_a_burst_of_profile_requests_lists_the_clusters_pods_once(cluster):
    use_cluster(cluster)
    settings = WorkspacesConfig.model_validate({"backend": "kubernetes"})

    @asynccontextmanager
    async def client(what: str):
        from workspaces.api.kube import api_client

        async with await api_client() as c:
            yield c

    async def burst():
        capacity = ProfileCapacity(SimpleNamespace(settings=settings, cluster=client), None)
        answers = await asyncio.gather(*(capacity.of(PROFILES) for _ in range(20)))
        return {a["small"].state for a in answers}

    mark = cluster.audit_mark()
    assert asyncio.run(burst()) == {"ready"}
    lists = [p for m, p, q in cluster.requests(since=mark) if m == "GET" and p in ("/api/v1/pods", "/api/v1/nodes")]
    assert sorted(lists) == ["/api/v1/nodes", "/api/v1/pods"]
