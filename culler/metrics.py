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
        self.warned = Counter(
            "workspaces_culler_warned",
            "Warnings that a workspace stops within culling.warn_before, once per stop time, by reason (idle, max_age)",
            ["reason"],
            registry=self.registry,
        )
        self.gpu_idle_culled = Counter(
            "workspaces_culler_gpu_idle_culled",
            "Workspaces the culler stopped because their GPUs stayed idle (gpu_idle), by rule",
            ["rule"],
            registry=self.registry,
        )
        self.gpu_signal_failures = Counter(
            "workspaces_culler_gpu_signal_failures", "Passes in which the GPU signal gave no readings", registry=self.registry
        )
        self.gpu_signal_duration = Histogram(
            "workspaces_culler_gpu_signal_duration_seconds", "Time to read the GPU signal, once per pass", registry=self.registry
        )
