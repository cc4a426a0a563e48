"""The GPU-idle signal: the since-when bookkeeping, the culler's decisions, and both sources
(nvidia-smi with the hub's leases; the DCGM exporter and Prometheus) read through stand-ins
that speak the real formats."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from culler.app import CullerApp
from culler.cull import GPU_IDLE, Culler
from culler.signal_dcgm import DcgmSignal, exporter_series, readings_from_series
from culler.signal_nvidia_smi import NvidiaSmiSignal, parse_utilization, read_leases
from culler.signals import GpuIdleClock, GpuWorkspace, Readings, Signal, signal_for
from spawner.gpus import GpuAllocator
from workspaces.config import CullingPolicy, GpuSignalSettings, KubernetesSettings, WorkspacesConfig
from workspaces.errors import issues_from_pydantic
from workspaces.naming import object_name

from ..support.dcgm_exporter import DcgmStandIn, Gpu, metrics_text
from ..support.fake_nvidia_smi import set_utilization, write_fake_nvidia_smi
from .test_culling_policy import CATALOG, NOW, FakeClient, server
from .test_hub_config import hub_config, services

LIMIT = {"below_percent": 5, "for": "30m"}
POLICY = {
    "startup_grace": 0,
    "rules": [{"name": "gpu", "match": {"gpu": True}, "timeout": "2h", "gpu_idle": LIMIT}],
}


# -- the rule -----------------------------------------------------------------------------


def config_issues(settings: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        WorkspacesConfig.model_validate(settings)
    return [str(i) for i in issues_from_pydantic(info.value, WorkspacesConfig)]


def test_gpu_idle_durations_are_parsed_like_the_other_culling_durations():
    rule = CullingPolicy.model_validate(POLICY).rules[0]
    assert (rule.gpu_idle.below_percent, rule.gpu_idle.for_) == (5, 1800)


def test_a_gpu_idle_mistake_is_one_line_naming_the_key():
    rule = {"match": {"gpu": True}, "timeout": 60, "gpu_idle": {"below_percent": 120, "for": "soon"}}
    assert config_issues({"culling": {"rules": [rule]}}) == [
        "culling.rules[0].gpu_idle.below_percent: must be <= 100.0",
        "culling.rules[0].gpu_idle.for: must be a duration such as 600, 90s, 30m, 2h or 1d, not 'soon'",
    ]


def test_an_unknown_gpu_idle_key_lists_the_keys_as_the_file_spells_them():
    rule = {"match": {"gpu": True}, "timeout": 60, "gpu_idle": {"below": 5, "for": 60, "below_percent": 5}}
    assert config_issues({"culling": {"rules": [rule]}}) == [
        "culling.rules[0].gpu_idle.below: unknown key; allowed keys: below_percent, for"
    ]


def test_an_exempt_rule_cannot_have_gpu_idle():
    rule = {"match": {"gpu": True}, "exempt": True, "gpu_idle": LIMIT}
    assert config_issues({"culling": {"rules": [rule]}}) == [
        "culling.rules[0]: an exempt rule never stops anything; remove gpu_idle or exempt"
    ]


def test_on_kubernetes_gpu_idle_needs_somewhere_to_read_the_dcgm_metrics():
    [issue] = config_issues({"backend": "kubernetes", "culling": POLICY})
    assert issue.startswith("culling rules with gpu_idle need culling.gpu_signal.prometheus_url or")


def test_locally_a_gpu_signal_source_is_refused_not_ignored():
    # the local culler reads nvidia-smi: a Prometheus named here would never be asked
    assert config_issues({"culling": {"gpu_signal": {"prometheus_url": "http://prometheus:9090"}}}) == [
        "culling.gpu_signal applies to backend kubernetes only (locally the culler reads nvidia-smi)"
    ]


def test_the_gpu_signal_reads_prometheus_or_the_exporters_not_both():
    both = {"prometheus_url": "http://prometheus:9090", "exporter_urls": ["http://10.0.0.5:9400/metrics"]}
    assert config_issues({"culling": {"gpu_signal": both}}) == [
        "culling.gpu_signal: give prometheus_url or exporter_urls, not both"
    ]


# -- since when -----------------------------------------------------------------------------


def test_the_clock_starts_at_the_first_reading_under_the_threshold():
    clock = GpuIdleClock()
    assert clock.observe("u/w", [1.0], 5, NOW) == NOW
    assert clock.observe("u/w", [0.0], 5, NOW + timedelta(minutes=10)) == NOW


def test_one_reading_at_the_threshold_starts_the_clock_again():
    clock = GpuIdleClock()
    clock.observe("u/w", [0.0], 5, NOW)
    assert clock.observe("u/w", [5.0], 5, NOW + timedelta(minutes=1)) is None
    assert clock.observe("u/w", [0.0], 5, NOW + timedelta(minutes=2)) == NOW + timedelta(minutes=2)


def test_one_busy_gpu_of_several_keeps_the_workspace_busy():
    assert GpuIdleClock().observe("u/w", [0.0, 0.0, 60.0], 5, NOW) is None


def test_a_pass_without_a_reading_starts_the_clock_again():
    clock = GpuIdleClock()
    clock.observe("u/w", [0.0], 5, NOW)
    assert clock.observe("u/w", None, 5, NOW + timedelta(minutes=1)) is None
    assert "u/w" not in clock.below_since


def test_stopped_workspaces_are_forgotten():
    clock = GpuIdleClock()
    clock.observe("u/a", [0.0], 5, NOW)
    clock.observe("u/b", [0.0], 5, NOW)
    clock.forget_all_but(["u/b"])
    assert set(clock.below_since) == {"u/b"}


# -- the culler's decisions --------------------------------------------------------------------


class Programmed(Signal):
    """Readings a test sets per pass, keyed like the local signal (user/server)."""

    name = "programmed"

    def __init__(self) -> None:
        self.next: dict[str, list[float]] | Exception = {}
        self.samples = 0

    async def sample(self) -> Readings:
        self.samples += 1
        if isinstance(self.next, Exception):
            raise self.next
        return Readings(dict(self.next))


def gpu_server(name: str, **kw) -> dict:
    # busy by the hub's figure: activity a minute ago, as a busy kernel reports
    return server(name, 60, 86400, profile="gpu-1", **kw)


def passes(culler: Culler, client: FakeClient, *minutes: float) -> None:
    for m in minutes:
        asyncio.run(culler.run_pass(now=NOW + timedelta(minutes=m)))


def culler_with(policy: dict, servers: list[dict], signal: Signal) -> tuple[Culler, FakeClient]:
    client = FakeClient([{"name": "u", "servers": {s["name"]: s for s in servers}}])
    return Culler(client, CullingPolicy.model_validate(policy), CATALOG, gpu_signal=signal), client


def test_a_gpu_idle_for_the_rules_time_is_stopped_though_its_kernel_is_busy():
    signal = Programmed()
    signal.next = {"u/idle": [0.0], "u/busy": [50.0]}
    culler, client = culler_with(POLICY, [gpu_server("idle"), gpu_server("busy")], signal)
    passes(culler, client, 0, 29)
    assert client.stops == []
    passes(culler, client, 30)
    assert client.stops == ["u/idle"]
    stopped = culler.decisions["u/idle"]
    assert (stopped.action, stopped.reason, stopped.rule) == ("stopped", GPU_IDLE, "gpu")
    assert stopped.gpu == "GPU at 0%, under 5% for 1800s of 1800s"
    assert "GPU at 0%, under 5% for 1800s of 1800s" in stopped.line()
    assert culler.decisions["u/busy"].gpu == "GPU at 50% (at or above 5%)"
    assert culler.metrics.gpu_idle_culled.labels(rule="gpu")._value.get() == 1


def test_the_signal_is_read_once_per_pass_whatever_the_number_of_workspaces():
    signal = Programmed()
    culler, client = culler_with(POLICY, [gpu_server(f"w{i}") for i in range(50)], signal)
    passes(culler, client, 0, 1)
    assert signal.samples == 2


def test_a_restarted_workspace_starts_its_gpu_clock_again():
    # stopped and started again between two passes: a new run, maybe other GPUs (a new lease)
    signal = Programmed()
    signal.next = {"u/w": [0.0]}
    w = gpu_server("w")
    culler, client = culler_with(POLICY, [w], signal)
    passes(culler, client, 0, 10)
    w["started"] = (NOW + timedelta(minutes=19)).isoformat()
    passes(culler, client, 20, 31)
    assert client.stops == []
    assert culler.decisions["u/w"].gpu == "GPU at 0%, under 5% for 660s of 1800s"
    passes(culler, client, 50)
    assert client.stops == ["u/w"]


def test_a_workspace_without_a_reading_is_never_stopped_by_the_gpu_signal():
    signal = Programmed()
    signal.next = {}
    culler, client = culler_with(POLICY, [gpu_server("dark")], signal)
    passes(culler, client, 0, 60, 120)
    assert client.stops == []
    assert culler.decisions["u/dark"].gpu == "GPU: no reading (never stopped by gpu_idle without one)"


def test_a_failing_signal_stops_nothing_and_is_counted():
    signal = Programmed()
    signal.next = {"u/w": [0.0]}
    culler, client = culler_with(POLICY, [gpu_server("w")], signal)
    passes(culler, client, 0)
    signal.next = RuntimeError("exporter unreachable")
    passes(culler, client, 31)
    assert client.stops == []
    assert culler.metrics.gpu_signal_failures._value.get() == 1


def test_a_dry_run_says_it_would_stop_the_idle_gpu():
    signal = Programmed()
    signal.next = {"u/w": [0.0]}
    culler, client = culler_with({**POLICY, "dry_run": True}, [gpu_server("w")], signal)
    passes(culler, client, 0, 30)
    assert client.stops == []
    assert culler.decisions["u/w"].action == "would stop"


def test_a_new_workspace_is_not_stopped_before_the_startup_grace():
    signal = Programmed()
    signal.next = {"u/w": [0.0]}
    young = server("w", 60, 60, profile="gpu-1")
    culler, client = culler_with({**POLICY, "startup_grace": "2h"}, [young], signal)
    passes(culler, client, 0, 31)
    assert client.stops == []


def test_gpu_idle_applies_only_to_workspaces_with_gpus():
    signal = Programmed()
    signal.next = {"u/cpu": [0.0]}
    everyone = {"startup_grace": 0, "rules": [{"match": {"user": "u"}, "timeout": "2h", "gpu_idle": LIMIT}]}
    culler, client = culler_with(everyone, [server("cpu", 60, 86400)], signal)
    passes(culler, client, 0, 31)
    assert client.stops == []


def test_without_a_gpu_idle_rule_the_signal_is_never_read():
    signal = Programmed()
    culler, client = culler_with({"startup_grace": 0}, [gpu_server("w")], signal)
    passes(culler, client, 0)
    assert culler.gpu_watch is None and signal.samples == 0


# -- locally: nvidia-smi and the hub's leases -----------------------------------------------------


def test_nvidia_smi_utilization_lines_are_parsed_and_gpus_without_one_left_out():
    assert parse_utilization("0, 37\n1, [N/A]\n2, 0\n") == {0: 37.0, 2: 0.0}


def test_the_allocator_writes_its_leases_for_the_culler(tmp_path: Path):
    leases = tmp_path / "gpu-leases.json"
    allocator = GpuAllocator([0, 1, 2], leases)
    allocator.allocate("ann/train", 2)
    allocator.allocate("ben/", 1)
    assert read_leases(leases) == {"ann/train": [0, 1], "ben/": [2]}
    allocator.release("ann/train")
    assert read_leases(leases) == {"ben/": [2]}


def test_a_new_hub_process_starts_from_no_leases(tmp_path: Path):
    leases = tmp_path / "gpu-leases.json"
    leases.write_text(json.dumps({"leases": {"gone/": [0]}}))
    GpuAllocator([0], leases)
    assert read_leases(leases) == {}


def test_the_local_signal_reads_the_leased_gpus_from_nvidia_smi(tmp_path: Path):
    fake = write_fake_nvidia_smi(tmp_path, 3)
    set_utilization(fake, {0: 0, 1: 75, 2: "[N/A]"})
    leases = tmp_path / "gpu-leases.json"
    leases.write_text(json.dumps({"leases": {"ann/train": [0, 1], "ben/": [2]}}))
    signal = NvidiaSmiSignal(str(fake), leases)
    sample = asyncio.run(signal.sample())
    assert signal.readings(sample, GpuWorkspace("ann", "train", 2)) == [0.0, 75.0]
    assert signal.readings(sample, GpuWorkspace("ben", "", 1)) is None  # its GPU reports no utilisation
    assert signal.readings(sample, GpuWorkspace("cat", "x", 1)) is None  # holds no lease


def test_a_failing_nvidia_smi_is_an_error_not_a_reading(tmp_path: Path):
    broken = tmp_path / "nvidia-smi"
    broken.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' >&2\nexit 9\n")
    broken.chmod(0o755)
    leases = tmp_path / "gpu-leases.json"
    leases.write_text(json.dumps({"leases": {"ann/": [0]}}))
    with pytest.raises(RuntimeError, match="exited 9: NVIDIA-SMI has failed"):
        asyncio.run(NvidiaSmiSignal(str(broken), leases).sample())


def test_the_local_backend_uses_nvidia_smi_and_the_lease_file(tmp_path: Path):
    config = WorkspacesConfig.model_validate({"local": {"nvidia_smi": "/opt/nvidia-smi"}, "culling": POLICY})
    signal = signal_for(config, tmp_path / "gpu-leases.json")
    assert isinstance(signal, NvidiaSmiSignal) and signal.nvidia_smi == "/opt/nvidia-smi"


def test_the_hub_gives_the_spawner_and_the_culler_service_the_same_lease_file(tmp_path: Path, monkeypatch):
    config = hub_config(tmp_path, monkeypatch, {"culling": POLICY})
    lease_file = config.LocalWorkspaceSpawner.gpu_lease_file
    command = services(config)["culler"]["command"]
    assert f"--gpu-leases={lease_file}" in command
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "culler-token")
    app = CullerApp()
    app.parse_command_line(command[3:])  # after python -m culler
    signal = app.build().gpu_watch.signal
    assert isinstance(signal, NvidiaSmiSignal) and signal.leases == Path(lease_file)


# -- Kubernetes: the DCGM exporter, directly or through Prometheus -------------------------------------

ANN_POD = object_name("ann", "train")
KUBE = KubernetesSettings.model_validate({"namespace_template": "ws-{username}"})


def dcgm(stand_in: DcgmStandIn, source: str) -> DcgmSignal:
    if source == "prometheus":
        return DcgmSignal(GpuSignalSettings(prometheus_url=stand_in.url), KUBE)
    return DcgmSignal(GpuSignalSettings(exporter_urls=[f"{stand_in.url}/metrics"]), KUBE)


def sample_of(signal: DcgmSignal):
    async def go():
        try:
            return await signal.sample()
        finally:
            await signal.close()

    return asyncio.run(go())


@pytest.mark.parametrize("source", ["exporters", "prometheus"])
def test_dcgm_readings_are_matched_by_pod_namespace_and_name(source: str):
    gpus = [
        Gpu(0, 0, "ws-ann", ANN_POD),
        Gpu(1, 12.5, "ws-ann", ANN_POD),
        Gpu(2, 90),  # held by no pod
    ]
    with DcgmStandIn(gpus) as stand_in:
        signal = dcgm(stand_in, source)
        sample = sample_of(signal)
    assert sample.by_key == {("ws-ann", ANN_POD): [0.0, 12.5]}
    assert signal.readings(sample, GpuWorkspace("ann", "train", 2, "ws-ann")) == [0.0, 12.5]


def test_the_namespace_comes_from_the_spawners_record_else_the_template():
    signal = DcgmSignal(GpuSignalSettings(exporter_urls=["http://x/metrics"]), KUBE)
    assert signal.key(GpuWorkspace("ann", "train", 1, "team-a")) == ("team-a", ANN_POD)
    assert signal.key(GpuWorkspace("ann", "train", 1)) == ("ws-ann", ANN_POD)


def test_fewer_readings_than_gpus_is_no_reading():
    with DcgmStandIn([Gpu(0, 0, "ws-ann", ANN_POD)]) as stand_in:
        signal = dcgm(stand_in, "exporters")
        sample = sample_of(signal)
    assert signal.readings(sample, GpuWorkspace("ann", "train", 2, "ws-ann")) is None


def test_an_exporter_that_fails_leaves_the_others_readings():
    with DcgmStandIn([Gpu(0, 40, "ws-ann", ANN_POD)]) as stand_in:
        settings = GpuSignalSettings(exporter_urls=[f"{stand_in.url}/metrics", f"{stand_in.url}/gone"])
        sample = sample_of(DcgmSignal(settings, KUBE))
    assert sample.by_key == {("ws-ann", ANN_POD): [40.0]}


def test_prometheus_renamed_labels_can_be_configured():
    text = metrics_text([Gpu(0, 3, "ws-ann", ANN_POD)]).replace('namespace="', 'exported_namespace="').replace(
        'pod="', 'exported_pod="'
    )
    readings = readings_from_series(exporter_series(text), "exported_pod", "exported_namespace")
    assert readings.by_key == {("ws-ann", ANN_POD): [3.0]}
