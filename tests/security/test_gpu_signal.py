"""The GPU-idle signal across users: one user's workspace is never stopped because of another
pod's GPU readings.

Workspace pod names are predictable (``workspaces.naming.object_name``), and anybody who may
make pods in a namespace of their own can give one a victim's pod name. The DCGM exporter labels
each GPU's series with the pod's namespace and name, and the culler matches on both.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from culler.cull import Culler
from culler.signal_dcgm import DcgmSignal
from workspaces.config import CullingPolicy, GpuSignalSettings, KubernetesSettings
from workspaces.naming import object_name

from ..support.dcgm_exporter import DcgmStandIn, Gpu
from ..unit.test_culling_policy import CATALOG, NOW, FakeClient, server

POLICY = CullingPolicy.model_validate(
    {
        "startup_grace": 0,
        "rules": [{"match": {"gpu": True}, "timeout": "2h", "gpu_idle": {"below_percent": 5, "for": "30m"}}],
    }
)
KUBE = KubernetesSettings.model_validate({"namespace_template": "ws-{username}"})
VICTIM_POD = object_name("alice", "train")


def stops_after_half_an_hour(gpus: list[Gpu]) -> list[str]:
    """alice's GPU workspace in ws-alice, busy by the hub's figure; what two passes 30 minutes apart stop."""
    alice = server("train", 60, 86400, profile="gpu-1", namespace="ws-alice")
    client = FakeClient([{"name": "alice", "servers": {"train": alice}}])
    with DcgmStandIn(gpus) as exporter:
        signal = DcgmSignal(GpuSignalSettings(exporter_urls=[f"{exporter.url}/metrics"]), KUBE)
        culler = Culler(client, POLICY, CATALOG, gpu_signal=signal)

        async def passes() -> None:
            try:
                for minutes in (0, 30):
                    await culler.run_pass(now=NOW + timedelta(minutes=minutes))
            finally:
                await signal.close()

        asyncio.run(passes())
    return client.stops


def test_a_look_alike_pod_in_another_namespace_does_not_stop_the_victims_workspace():
    # alice's GPU is on a node whose exporter this culler does not read; mallory's pod has her pod's name
    look_alike = Gpu(0, 0, namespace="ws-mallory", pod=VICTIM_POD, node="mallorys-node")
    assert stops_after_half_an_hour([look_alike]) == []


def test_the_victims_own_idle_gpu_still_stops_her_workspace():
    # the control: the same readings under her own namespace do stop it
    own = Gpu(0, 0, namespace="ws-alice", pod=VICTIM_POD)
    assert stops_after_half_an_hour([own]) == ["alice/train"]
