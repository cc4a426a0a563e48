"""The GPU-idle signal: how busy each GPU workspace's GPUs are, and since when they are not.

A kernel that reports busy says nothing about the GPU: a notebook that holds a
GPU and sleeps, or waits on input, keeps it from everyone else. A culling rule
with ``gpu_idle: {below_percent: 5, for: 30m}`` stops a GPU workspace whose GPUs
all stay under 5% for 30 minutes, busy kernel or not.

A :class:`Signal` gives, once per pass, the utilisation readings of every GPU
workspace it can see (:class:`Readings`); the culler keeps, in
:class:`GpuIdleClock`, since when each workspace has read under its rule's
threshold. One reading at or above it starts the clock again. A workspace with
no reading (the signal failed, the exporter does not list it, fewer readings
than GPUs) is never stopped by this signal, and its clock starts again: the
culler cannot say it was idle while it could not see it.

Implementations: :mod:`culler.signal_nvidia_smi` (local backend: nvidia-smi and
the hub's GPU leases) and :mod:`culler.signal_dcgm` (Kubernetes: the NVIDIA DCGM
exporter's ``DCGM_FI_DEV_GPU_UTIL``, from Prometheus or the exporters).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from workspaces.config import GpuIdle, WorkspacesConfig
from workspaces.culling import WorkspaceFacts

from .metrics import Metrics

log = logging.getLogger("workspaces.culler")


@dataclass(frozen=True)
class GpuWorkspace:
    """A running workspace with GPUs, as the culler knows it from the hub API."""

    user: str
    server: str
    gpus: int
    namespace: str | None = None  # Kubernetes: where its pod runs (recorded by the spawner)

    @property
    def key(self) -> str:
        return f"{self.user}/{self.server}"

    @classmethod
    def of(cls, facts: WorkspaceFacts, server: str) -> GpuWorkspace:
        return cls(facts.user, server, facts.gpus, facts.namespace)


@dataclass
class Readings:
    """One pass's utilisation (percent) per GPU, keyed as the signal's :meth:`Signal.key` says."""

    by_key: dict[Hashable, list[float]] = field(default_factory=dict)


class Signal(ABC):
    """Where GPU utilisation comes from. One :meth:`sample` per pass, whatever the number of workspaces."""

    name: str = "gpu"

    @abstractmethod
    async def sample(self) -> Readings:
        """The readings of every GPU workspace this signal sees now; raises when it sees nothing."""

    def key(self, workspace: GpuWorkspace) -> Hashable | None:
        """Where ``workspace``'s readings are in :attr:`Readings.by_key`; None when it cannot be found."""
        return workspace.key

    def readings(self, sample: Readings, workspace: GpuWorkspace) -> list[float] | None:
        """The workspace's readings, one per GPU; None unless there is one for each of its GPUs."""
        key = self.key(workspace)
        found = sample.by_key.get(key) if key is not None else None
        if not found or len(found) < workspace.gpus:
            return None
        return found

    async def close(self) -> None:
        """Release what the signal holds (connections)."""


class GpuIdleClock:
    """Since when each workspace's GPUs have all read under its threshold."""

    def __init__(self) -> None:
        self.below_since: dict[str, datetime] = {}
        self._run: dict[str, Hashable] = {}

    def observe(
        self, key: str, readings: list[float] | None, below_percent: float, now: datetime, run: Hashable = None
    ) -> datetime | None:
        """Record one pass's readings; returns since when the workspace is under the threshold, or None.

        ``run`` tells one run of the workspace from the next (its start time): a
        workspace stopped and started again between two passes has a new run, and
        maybe other GPUs, so what its last run read says nothing of this one.
        """
        if self._run.get(key, run) != run:
            self.below_since.pop(key, None)
        self._run[key] = run
        if not readings or max(readings) >= below_percent:
            self.below_since.pop(key, None)
            return None
        return self.below_since.setdefault(key, now)

    def forget_all_but(self, keys: Iterable[str]) -> None:
        """Drop stopped workspaces: memory follows what runs, not history."""
        keep = set(keys)
        for remembered in (self.below_since, self._run):
            for key in [k for k in remembered if k not in keep]:
                del remembered[key]


@dataclass(frozen=True)
class GpuVerdict:
    """What the signal says of one workspace in one pass."""

    readings: list[float] | None
    idle_for: float | None  # seconds under the threshold; None: not under it, or no reading
    limit: GpuIdle

    @property
    def idle(self) -> bool:
        return self.idle_for is not None and self.idle_for >= self.limit.for_

    def describe(self) -> str:
        if self.readings is None:
            return "GPU: no reading (never stopped by gpu_idle without one)"
        now = ", ".join(f"{r:g}%" for r in self.readings)
        if self.idle_for is None:
            return f"GPU at {now} (at or above {self.limit.below_percent:g}%)"
        return f"GPU at {now}, under {self.limit.below_percent:g}% for {self.idle_for:.0f}s of {self.limit.for_:.0f}s"


class GpuIdleWatch:
    """The culler's use of a signal: one sample per pass, and the clock across passes."""

    def __init__(self, signal: Signal, metrics: Metrics):
        self.signal = signal
        self.metrics = metrics
        self.clock = GpuIdleClock()
        self.sample = Readings()

    async def begin_pass(self) -> None:
        started = time.perf_counter()
        try:
            self.sample = await self.signal.sample()
        except Exception as e:  # unreachable exporter, nvidia-smi failing, ...: no readings this pass
            log.warning("GPU signal %s gave no readings this pass: %s: %s", self.signal.name, type(e).__name__, e)
            self.metrics.gpu_signal_failures.inc()
            self.sample = Readings()
        self.metrics.gpu_signal_duration.observe(time.perf_counter() - started)

    def check(self, workspace: GpuWorkspace, limit: GpuIdle, now: datetime, run: Hashable = None) -> GpuVerdict:
        """``run``: the workspace's start time (see :meth:`GpuIdleClock.observe`)."""
        readings = self.signal.readings(self.sample, workspace)
        since = self.clock.observe(workspace.key, readings, limit.below_percent, now, run)
        return GpuVerdict(readings, None if since is None else (now - since).total_seconds(), limit)

    def end_pass(self, running: Iterable[str]) -> None:
        self.clock.forget_all_but(running)

    async def close(self) -> None:
        await self.signal.close()


def signal_for(config: WorkspacesConfig, gpu_leases: Path) -> Signal:
    """The signal of the configured backend."""
    if config.backend == "kubernetes":
        from .signal_dcgm import DcgmSignal

        return DcgmSignal(config.culling.gpu_signal, config.kubernetes)
    from .signal_nvidia_smi import NvidiaSmiSignal

    return NvidiaSmiSignal(config.local.nvidia_smi, gpu_leases)
