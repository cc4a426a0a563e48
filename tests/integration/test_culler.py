"""Idle culling against a real hub, real servers and real kernels, with short timeouts.

Idle workspaces stop themselves: the spawner gives each server jupyter-server's
own culling from the rule that applies, so these tests wait for the server's
once-a-minute check. The culler service's passes are run one at a time
(``python -m culler --once``) with a token that has exactly the culler's scopes,
so every decision is deterministic; the last test lets the hub run the culler
service on its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from culler.cull import GPU_IDLE, Culler
from culler.hub import HubClient
from culler.signal_nvidia_smi import NvidiaSmiSignal
from workspaces.catalog import CatalogStore
from workspaces.config import CullingPolicy, load_config

from ..support.fake_nvidia_smi import set_utilization, write_fake_nvidia_smi
from ..support.hub import Hub, wait_for
from ..support.kernel import start_job

pytestmark = pytest.mark.hub

# jupyter-server checks for its own shutdown once a minute
SELF_STOP_S = 90

RULES = [
    {"name": "quick", "match": {"user": "ann"}, "timeout": 2},
    {"name": "quick-jobs", "match": {"user": "cat"}, "timeout": 3},
    {"name": "ben-exempt", "match": {"user": "ben"}, "exempt": True},
    {"name": "gpu", "match": {"gpu": True}, "timeout": "30m"},
]


@pytest.fixture(scope="module")
def cull_hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("cull")
    fake = write_fake_nvidia_smi(root, 2)
    h = Hub(
        root,
        settings={
            "local": {"gpus": "auto", "nvidia_smi": str(fake)},
            # the culler service runs, but its passes do nothing here (no max_age)
            "culling": {"startup_grace": 0, "default_timeout": "2h", "rules": RULES},
        },
    ).start()
    try:
        # Left alone from the start: its server's first once-a-minute check passes while the
        # other tests run, and the last test sees it stopped (or waits for it).
        h.start_workspace("ann", "idle", {"image": "lab"})
        yield h
    finally:
        h.shutdown()


def cull_pass(hub: Hub, **policy: Any) -> dict[str, Any]:
    """One pass with ``policy`` over the hub's config; returns its report and decisions."""
    config = yaml.safe_load(hub.config_file.read_text())
    config["culling"] = {"enabled": False, "startup_grace": 0, **policy}
    path = hub.config_dir / f"culling-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = dict(os.environ, JUPYTERHUB_API_TOKEN=hub.culler_token)
    result = subprocess.run(
        [sys.executable, "-m", "culler", f"--config={path}", f"--api-url={hub.url}/hub/api", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    out["log"] = result.stderr
    out["by_server"] = {f"{d['user']}/{d['server']}": d for d in out["decisions"]}
    return out


def stopped(hub: Hub, user: str, name: str) -> None:
    wait_for(lambda: not (hub.server(user, name) or {}).get("ready"), 20, f"{user}/{name} to stop")


def cleanup(hub: Hub, user: str, name: str) -> None:
    hub.api("DELETE", f"/users/{user}/servers/{name}")
    hub.wait_stopped(user, name)


def server_args(hub: Hub, user: str, name: str) -> list[str]:
    """The command line the workspace's server runs with."""
    pid = hub.state(user, name)["pid"]
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_each_workspace_gets_the_timeout_of_the_rule_that_matches_it(cull_hub: Hub):
    cull_hub.start_workspace("dan", "gpu", {"image": "cuda", "profile": "gpu-1"})
    cull_hub.start_workspace("dan", "cpu", {"image": "lab", "profile": "small"})
    try:
        assert "--ServerApp.shutdown_no_activity_timeout=1800" in server_args(cull_hub, "dan", "gpu")
        assert "--ServerApp.shutdown_no_activity_timeout=7200" in server_args(cull_hub, "dan", "cpu")
        assert "--MappingKernelManager.cull_busy=False" in server_args(cull_hub, "dan", "cpu")
    finally:
        cleanup(cull_hub, "dan", "gpu")
        cleanup(cull_hub, "dan", "cpu")


def test_an_exempt_workspace_never_stops_itself(cull_hub: Hub):
    cull_hub.start_workspace("ben", "keep", {"image": "lab"})
    try:
        assert not any("shutdown_no_activity" in arg or "cull_idle" in arg for arg in server_args(cull_hub, "ben", "keep"))
    finally:
        cleanup(cull_hub, "ben", "keep")


def kernel_state(hub: Hub, user: str, name: str, kernel: str) -> str | None:
    """The kernel's execution state; None once it is gone."""
    return hub.get(f"/user/{user}/{name}/api/kernels/{kernel}", token=hub.user_token(user)).json().get("execution_state")


def kernel_ids(hub: Hub, user: str, name: str) -> list[str]:
    r = hub.get(f"/user/{user}/{name}/api/kernels?no_track_activity=1", token=hub.user_token(user))
    return [k["id"] for k in r.json()] if r.status_code == 200 else []


def test_a_busy_kernel_is_not_culled_until_it_is_idle(cull_hub: Hub):
    # A server stops itself only once it has no kernel (jupyter-server's rule), so a kernel
    # kept while busy keeps its workspace; the idle test shows the stop that follows.
    cull_hub.start_workspace("cat", "train", {"image": "lab"})
    try:
        kernel = start_job(cull_hub, "cat", "train", "import time; time.sleep(12)")
        # busy well past the 3 s timeout, and checked every second: still there
        wait_for(lambda: kernel_state(cull_hub, "cat", "train", kernel) == "idle", 30, "the job to finish")
        assert kernel in kernel_ids(cull_hub, "cat", "train")
        # idle now: it goes after the timeout
        wait_for(lambda: kernel not in kernel_ids(cull_hub, "cat", "train"), 20, "the idle kernel to be culled")
    finally:
        cleanup(cull_hub, "cat", "train")


def test_max_age_stops_even_a_busy_workspace_through_the_hub(cull_hub: Hub):
    cull_hub.start_workspace("eve", "old", {"image": "lab"})
    start_job(cull_hub, "eve", "old", "import time; time.sleep(60)")
    ann_stays = [{"name": "ann-stays", "match": {"user": "ann"}, "exempt": True}]  # her server stops itself
    wait_for(lambda: cull_pass(cull_hub, max_age=1, rules=ann_stays)["by_server"]["eve/old"]["action"] == "stopped",
             20, "a pass to stop it")
    cull_hub.wait_stopped("eve", "old")
    assert cull_hub.server("eve", "old")["user_options"] == {"image": "lab", "profile": "small"}
    assert cull_hub.workspace_folder("eve", "old").exists()


def test_passes_explain_grace_exemption_and_dry_run_and_stop_nothing(cull_hub: Hub):
    cull_hub.start_workspace("fay", "keep", {"image": "lab"})
    try:
        grace = cull_pass(cull_hub, default_timeout=1, startup_grace=3600)
        assert (grace["by_server"]["fay/keep"]["reason"], grace["by_server"]["fay/keep"]["timeout"]) == ("active", 3600)

        exempt = cull_pass(cull_hub, default_timeout=1, rules=[{"name": "fay-exempt", "match": {"user": "fay"}, "exempt": True}])
        assert (exempt["by_server"]["fay/keep"]["action"], exempt["by_server"]["fay/keep"]["rule"]) == ("kept", "fay-exempt")

        def dry_run() -> dict[str, Any] | None:
            out = cull_pass(cull_hub, default_timeout=1, dry_run=True)
            return out if out["by_server"]["fay/keep"]["action"] == "would stop" else None

        dry = wait_for(dry_run, 20, "the hub to see fay/keep idle for a second")
        assert dry["report"]["would_stop"] >= 1 and dry["report"]["stopped"] == 0

        idle = cull_pass(cull_hub, default_timeout=1)
        assert idle["by_server"]["fay/keep"]["action"] == "kept"
        assert idle["by_server"]["fay/keep"]["reason"].endswith("its server stops itself unless a kernel is busy")
        assert cull_hub.server("fay", "keep")["ready"]
    finally:
        cleanup(cull_hub, "fay", "keep")


def test_the_culler_token_cannot_reach_or_start_servers_or_delete_users(cull_hub: Hub):
    cull_hub.start_workspace("gus", "precious", {"image": "lab"})
    try:
        headers = {"Authorization": f"token {cull_hub.culler_token}"}
        api = f"{cull_hub.url}/hub/api"
        r = requests.get(f"{cull_hub.url}/user/gus/precious/api/contents", headers=headers, timeout=30, allow_redirects=False)
        assert r.status_code == 403
        r = requests.post(f"{api}/users/gus/servers/other", headers=headers, json={}, timeout=30)
        assert r.status_code == 403
        r = requests.delete(f"{api}/users/gus", headers=headers, timeout=30)
        assert r.status_code == 403
        assert cull_hub.server("gus", "precious")["ready"]
        # what it may do: list running servers with their activity
        r = requests.get(f"{api}/users?state=ready", headers=headers, timeout=30)
        assert r.status_code == 200 and any(u["name"] == "gus" for u in r.json())
    finally:
        cleanup(cull_hub, "gus", "precious")


def test_an_idle_workspace_stops_itself_and_keeps_its_folder_and_spec(cull_hub: Hub):
    wait_for(lambda: not cull_hub.server("ann", "idle")["ready"], SELF_STOP_S, "ann/idle to stop itself")
    server = cull_hub.server("ann", "idle")
    assert server["user_options"] == {"image": "lab", "profile": "small"}
    assert cull_hub.workspace_folder("ann", "idle").exists()


def test_the_hub_runs_the_culler_and_it_reports_what_it_did(tmp_path):
    hub = Hub(tmp_path, settings={"culling": {"max_age": 2, "startup_grace": 0, "every": 1}}).start()
    try:
        hub.start_workspace("ida", "forgotten", {"image": "lab"})
        stopped(hub, "ida", "forgotten")
        assert hub.workspace_folder("ida", "forgotten").exists()

        admin = hub.user_token("admin")  # admins may use every service

        def culled() -> list[dict[str, Any]]:
            # the culler records its stop once the hub has answered it, which may be after the server went
            decisions = hub.get("/services/culler/api/decisions", token=admin)
            assert decisions.status_code == 200, decisions.text
            return decisions.json()["culled"]

        [culled] = wait_for(culled, 20, "the culler to record its stop")
        assert (culled["user"], culled["server"], culled["action"], culled["rule"]) == ("ida", "forgotten", "stopped", "default")
        assert culled["at"] and culled["reason"].startswith("older than max_age")
        metrics = hub.get("/services/culler/metrics", token=admin)
        assert metrics.status_code == 200
        assert 'workspaces_culler_culled_total{rule="default"} 1.0' in metrics.text
    finally:
        hub.shutdown()


def gpu_idle_passes(hub: Hub, minutes: list[float]) -> list[dict[str, Any]]:
    """Passes of one culler with a 30-minute gpu_idle rule, ``minutes`` apart from now: the
    culler keeps its since-when times in memory, so the passes share one, and ``now`` is
    given instead of waited for. It reads the fake nvidia-smi and the hub's lease file, and
    stops through the hub API with the culler's token."""
    rule = {"name": "gpu", "match": {"gpu": True}, "timeout": "2h", "gpu_idle": {"below_percent": 5, "for": "30m"}}
    policy = CullingPolicy.model_validate({"startup_grace": 0, "default_timeout": "2h", "rules": [rule]})
    catalog = CatalogStore(load_config(hub.config_file)).current()
    signal = NvidiaSmiSignal(str(hub.config_dir.parent / "nvidia-smi"), hub.data_dir / "gpu-leases.json")
    start = datetime.now(timezone.utc)

    async def run() -> list[dict[str, Any]]:
        client = HubClient(f"{hub.url}/hub/api", hub.culler_token)
        culler = Culler(client, policy, catalog, gpu_signal=signal)
        try:
            decisions = []
            for m in minutes:
                await culler.run_pass(now=start + timedelta(minutes=m))
                decisions.append({f"{d['user']}/{d['server']}": d for d in culler.decisions_json()})
            return decisions
        finally:
            await client.close()

    return asyncio.run(run())


def test_a_busy_kernel_on_an_idle_gpu_is_stopped_through_the_hub_and_one_on_a_busy_gpu_kept(cull_hub: Hub):
    fake = cull_hub.config_dir.parent / "nvidia-smi"
    set_utilization(fake, {0: 50, 1: 50})
    for user in ("kim", "lee"):  # both start at once
        r = cull_hub.api("POST", f"/users/{user}/servers/train", token=cull_hub.user_token(user),
                         json={"image": "cuda", "profile": "gpu-1"})
        assert r.status_code in (201, 202), r.text
    for user in ("kim", "lee"):
        cull_hub.wait_ready(user, "train")
        start_job(cull_hub, user, "train", "import time; time.sleep(600)")
    try:
        [idle_gpu] = cull_hub.state("kim", "train")["gpus"]
        [busy_gpu] = cull_hub.state("lee", "train")["gpus"]
        # what the culler reads is the hub's alone to write
        assert (os.stat(cull_hub.data_dir / "gpu-leases.json").st_mode & 0o777) == 0o600
        set_utilization(fake, {idle_gpu: 0, busy_gpu: 50})

        _, before, after = gpu_idle_passes(cull_hub, [0, 29, 30])
        assert before["kim/train"]["action"] == "kept"
        assert before["kim/train"]["gpu"] == "GPU at 0%, under 5% for 1740s of 1800s"
        assert (after["kim/train"]["action"], after["kim/train"]["reason"]) == ("stopped", GPU_IDLE)
        cull_hub.wait_stopped("kim", "train")
        assert (after["lee/train"]["action"], after["lee/train"]["gpu"]) == ("kept", "GPU at 50% (at or above 5%)")
        assert cull_hub.server("lee", "train")["ready"]
    finally:
        cleanup(cull_hub, "kim", "train")
        cleanup(cull_hub, "lee", "train")
