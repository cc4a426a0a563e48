"""Prometheus metrics of the workspaces API, in a registry of its own.

Keep-alives are counted here, where they happen: the culler only reads the hub,
where a keep-alive looks like any other activity.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.keepalives = Counter(
            "workspaces_api_keepalives", "Keep-alives that moved a workspace's stop", registry=self.registry
        )

    content_type = CONTENT_TYPE_LATEST

    def text(self) -> bytes:
        return generate_latest(self.registry)
