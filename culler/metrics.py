"""Prometheus metrics of the culler, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inspected = Counter(
            "workspaces_culler_inspected", "Running workspaces inspected", registry=self.registry
        )
        self.culled = Counter(
            "workspaces_culler_culled", "Workspaces the culler stopped (max_age), by rule", ["rule"], registry=self.registry
        )
        self.pass_duration = Histogram(
            "workspaces_culler_pass_duration_seconds", "Duration of a cull pass", registry=self.registry
        )
