"""The hub's pod watch lists in pages, resumes after each watch ends, and starts over from a fresh list after 410 Gone.

Paging and resuming are shown on the real control plane (its audit log says
what was asked); 410 Gone on the stand-in, which can be made to forget
resourceVersions (a real API server forgets them only after compaction).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest
from kubespawner.clients import load_config

from spawner.reflectors import POD_LABELS, WorkspacePodReflector

from ..support.k8s_apiserver import BY_PLURAL, ApiServer
from .kube import hardened_pod, use_cluster

PAGE = 3
PODS = 7  # three pages: 3, 3, 1


async def eventually(condition: Callable[[], Any], timeout: float, what: str) -> None:
    """Wait, without blocking the event loop the reflector runs on, until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def pod_reflector(api: Any, **traits: Any) -> WorkspacePodReflector:
    """The hub's pod reflector, as KubeWorkspaceSpawner makes it, speaking to ``api`` as the hub."""
    use_cluster(api)
    load_config()
    reflector = WorkspacePodReflector(labels=POD_LABELS, omit_namespace=True, **traits)
    await reflector.start()
    return reflector


def pod_lists(requests: list[tuple[str, str, str]]) -> list[str]:
    """The queries of the hub's lists (not watches) of pods across namespaces."""
    return [query for method, path, query in requests if method == "GET" and path == "/api/v1/pods" and "watch=" not in query]


@pytest.fixture
def pods(cluster) -> tuple[str, set[str]]:
    """A namespace holding PODS workspace pods; their cache keys."""
    namespace = cluster.namespace("paged")
    for i in range(PODS):
        cluster.admin.create("pods", hardened_pod(f"ws-paged-{i}", "busybox", dict(POD_LABELS)), namespace)
    yield namespace, {f"{namespace}/ws-paged-{i}" for i in range(PODS)}
    cluster.delete_namespace(namespace)


def test_the_first_list_and_a_relist_come_in_pages_and_find_every_pod(cluster, pods):
    namespace, expected = pods

    async def go() -> None:
        mark = await asyncio.to_thread(cluster.audit_mark)
        reflector = await pod_reflector(cluster, list_page_size=PAGE)
        try:
            assert expected <= set(reflector.pods)
            first = pod_lists(await asyncio.to_thread(cluster.requests, since=mark))
            # every page asked for at most PAGE pods; those after the first followed its continue token
            assert first and all(f"limit={PAGE}" in q for q in first)
            assert sum("continue=" in q for q in first) >= math.ceil(PODS / PAGE) - 1

            mark = await asyncio.to_thread(cluster.audit_mark)
            version = await reflector._list_and_update("1")  # a relist, as at a watch restart: NotOlderThan a version
            assert version and expected <= set(reflector.pods)
            relist = pod_lists(await asyncio.to_thread(cluster.requests, since=mark))
            assert any("resourceVersionMatch=NotOlderThan" in q and f"limit={PAGE}" in q for q in relist)
            assert sum("continue=" in q for q in relist) >= math.ceil(PODS / PAGE) - 1
        finally:
            await reflector.stop()

    asyncio.run(go())


def test_a_pod_made_after_a_watch_ended_is_seen(cluster, pods):
    namespace, expected = pods

    async def go() -> None:
        mark = await asyncio.to_thread(cluster.audit_mark)
        reflector = await pod_reflector(cluster, list_page_size=PAGE, timeout_seconds=1)
        try:
            def watches() -> int:
                return sum("watch=" in q for m, p, q in cluster.requests(since=mark) if p == "/api/v1/pods")

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while await asyncio.to_thread(watches) < 2:  # the first watch ended, and the next began
                assert loop.time() < deadline, "the pod watch did not restart after its timeout"
                await asyncio.sleep(0.2)
            await asyncio.to_thread(cluster.admin.create, "pods",
                                    hardened_pod("ws-paged-late", "busybox", dict(POD_LABELS)), namespace)
            await eventually(lambda: f"{namespace}/ws-paged-late" in reflector.pods, 30, "the new pod in the cache")
            assert expected <= set(reflector.pods)
        finally:
            await reflector.stop()

    asyncio.run(go())


def test_a_watch_answered_410_gone_starts_over_from_a_fresh_list_and_loses_no_pod():
    async def go() -> None:
        api = await ApiServer.start(history=5)
        reflector = None
        try:
            pods, configmaps = BY_PLURAL["pods"], BY_PLURAL["configmaps"]
            for i in range(3):
                await api.store.create(pods, "ns1", hardened_pod(f"ws-{i}", "busybox", dict(POD_LABELS)))
            reflector = await pod_reflector(api, list_page_size=PAGE, timeout_seconds=30)
            first = set(reflector.pods)
            assert first == {"ns1/ws-0", "ns1/ws-1", "ns1/ws-2"}
            # The watch loop lists, then watches from that list's version; both are held back, and
            # while the watch waits, more changes than the server remembers make its version too old.
            api.fault("GET", r"^/api/v1/pods$", status=0, delay=1.0, times=2)
            watch = lambda: [q for m, p, q in api.store.requests if p == "/api/v1/pods" and "watch=" in q]  # noqa: E731
            await eventually(watch, 10, "the watch request")
            await api.store.create(pods, "ns1", hardened_pod("ws-late", "busybox", dict(POD_LABELS)))
            for i in range(10):
                await api.store.create(configmaps, "ns1", {"metadata": {"name": f"c{i}"}})
            seen_without: list[set[str]] = []

            def recovered() -> bool:
                if not first <= set(reflector.pods):
                    seen_without.append(set(reflector.pods))
                return "ns1/ws-late" in reflector.pods

            await eventually(recovered, 20, "the pod made while the watch's version was forgotten")
            assert seen_without == []  # the old view stayed until the fresh list replaced it whole
            after_watch = api.store.requests[api.store.requests.index(("GET", "/api/v1/pods", watch()[0])) + 1:]
            fresh = pod_lists(after_watch)
            assert fresh and "resourceVersion=" not in fresh[0]  # a fresh list, not from the forgotten version
        finally:
            if reflector is not None:
                await reflector.stop()
            await api.stop()

    asyncio.run(go())
