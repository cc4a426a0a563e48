"""The idle culler against a real hub, real servers and real kernels, with short timeouts.

Passes are run one at a time (``python -m culler --once``) with a token that has
exactly the culler's scopes, so every decision is deterministic; the last test
lets the hub run the culler service on its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
import requests
import yaml
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from ..support.fake_nvidia_smi import write_fake_nvidia_smi
from ..support.hub import Hub, wait_for

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def cull_hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("cull")
    fake = write_fake_nvidia_smi(root, 1)
    h = Hub(
        root,
        settings={"local": {"gpus": "auto", "nvidia_smi": str(fake)}, "culling": {"enabled": False}},
    ).start()
    try:
        yield h
    finally:
        h.shutdown()


def cull_pass(hub: Hub, **policy: Any) -> dict[str, Any]:
    """One pass with ``policy`` over the hub's config; returns its report and decisions."""
    config = yaml.safe_load(hub.config_file.read_text())
    config["culling"] = {"enabled": False, "startup_grace": 0, "probe_timeout": 2, **policy}
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


def test_an_idle_workspace_past_its_timeout_is_stopped_and_keeps_its_folder(cull_hub: Hub):
    cull_hub.start_workspace("ann", "idle", {"image": "lab"})
    time.sleep(2.5)
    out = cull_pass(cull_hub, default_timeout=2)
    decision = out["by_server"]["ann/idle"]
    assert (decision["action"], decision["rule"], decision["reason"]) == ("stopped", "default", "idle past its timeout")
    assert "stopped ann/idle: idle past its timeout (rule default" in out["log"]
    stopped(cull_hub, "ann", "idle")
    server = cull_hub.server("ann", "idle")
    assert server is not None and server["user_options"] == {"image": "lab", "profile": "small"}
    assert cull_hub.workspace_folder("ann", "idle").exists()


def test_grace_exemption_and_dry_run_stop_nothing(cull_hub: Hub):
    cull_hub.start_workspace("ben", "keep", {"image": "lab"})
    time.sleep(2.5)
    try:
        grace = cull_pass(cull_hub, default_timeout=1, startup_grace=3600)
        assert grace["by_server"]["ben/keep"]["reason"] == "in its startup grace period"

        exempt = cull_pass(cull_hub, default_timeout=1, rules=[{"name": "ben-exempt", "match": {"user": "ben"}, "exempt": True}])
        assert exempt["by_server"]["ben/keep"]["action"] == "kept"
        assert exempt["by_server"]["ben/keep"]["rule"] == "ben-exempt"

        dry = cull_pass(cull_hub, default_timeout=1, dry_run=True)
        assert dry["by_server"]["ben/keep"]["action"] == "would stop"
        assert dry["report"]["would_stop"] == 1 and dry["report"]["stopped"] == 0
        time.sleep(2)  # the hub polls every second: a stop would have shown by now
        assert cull_hub.server("ben", "keep")["ready"]
    finally:
        cleanup(cull_hub, "ben", "keep")


async def _run_in_kernel(hub: Hub, user: str, name: str, code: str) -> str:
    """Start a kernel and send it code through the server's REST and websocket API."""
    token = hub.user_token(user)
    r = requests.post(
        f"{hub.url}/user/{user}/{name}/api/kernels", headers={"Authorization": f"token {token}"}, json={}, timeout=30
    )
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    session = uuid.uuid4().hex
    ws = await websocket_connect(
        HTTPRequest(
            f"ws://127.0.0.1:{hub.port}/user/{user}/{name}/api/kernels/{kernel}/channels?session_id={session}",
            headers={"Authorization": f"token {token}"},
        )
    )
    msg_id = uuid.uuid4().hex
    ws.write_message(
        json.dumps(
            {
                "header": {"msg_id": msg_id, "session": session, "username": user, "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    # wait until the kernel says it is busy with our request, then hang up:
    # no browser stays connected while the job runs
    while True:
        message = json.loads(await asyncio.wait_for(ws.read_message(), 30))
        if message.get("parent_header", {}).get("msg_id") == msg_id and message["header"]["msg_type"] == "status":
            if message["content"]["execution_state"] == "busy":
                break
    ws.close()
    return kernel


def kernel_state(hub: Hub, user: str, name: str, kernel: str) -> str:
    return hub.get(f"/user/{user}/{name}/api/kernels/{kernel}", token=hub.user_token(user)).json()["execution_state"]


def test_a_busy_kernel_is_not_stopped_until_it_is_idle(cull_hub: Hub):
    cull_hub.start_workspace("cat", "train", {"image": "lab"})
    kernel = asyncio.run(_run_in_kernel(cull_hub, "cat", "train", "import time; time.sleep(10)"))
    time.sleep(2.5)  # the hub's last_activity is now older than the timeout

    busy = cull_pass(cull_hub, default_timeout=2)
    assert busy["by_server"]["cat/train"]["action"] == "kept"
    assert busy["by_server"]["cat/train"]["reason"] == "busy: 1 busy kernel(s)"

    wait_for(lambda: kernel_state(cull_hub, "cat", "train", kernel) == "idle", 20, "the job to finish")
    time.sleep(2.5)
    idle = cull_pass(cull_hub, default_timeout=2)
    assert idle["by_server"]["cat/train"]["action"] == "stopped"
    stopped(cull_hub, "cat", "train")


def test_a_gpu_workspace_is_culled_on_the_gpu_timeout_and_a_cpu_one_on_the_default(cull_hub: Hub):
    cull_hub.start_workspace("dan", "gpu", {"image": "cuda", "profile": "gpu-1"})
    cull_hub.start_workspace("dan", "cpu", {"image": "lab", "profile": "small"})
    time.sleep(2.5)
    gpu_rules = [{"name": "gpu-short", "match": {"gpu": True}, "timeout": 2}]
    try:
        out = cull_pass(cull_hub, default_timeout=3600, rules=gpu_rules)
        gpu, cpu = out["by_server"]["dan/gpu"], out["by_server"]["dan/cpu"]
        assert (gpu["action"], gpu["rule"], gpu["timeout"]) == ("stopped", "gpu-short", 2)
        assert (cpu["action"], cpu["rule"], cpu["timeout"]) == ("kept", "default", 3600)
        stopped(cull_hub, "dan", "gpu")

        # the CPU workspace goes once the default timeout is shorter than its idle time
        out = cull_pass(cull_hub, default_timeout=2, rules=gpu_rules)
        cpu = out["by_server"]["dan/cpu"]
        assert (cpu["action"], cpu["rule"]) == ("stopped", "default")
        stopped(cull_hub, "dan", "cpu")

        # the GPU is free again once the hub has noticed the stop
        cull_hub.start_workspace("eve", "next-gpu", {"image": "cuda", "profile": "gpu-1"})
        cleanup(cull_hub, "eve", "next-gpu")
    finally:
        for name in ("gpu", "cpu"):
            if (cull_hub.server("dan", name) or {}).get("ready"):
                cleanup(cull_hub, "dan", name)


def test_the_default_timeout_applies_when_no_rule_matches(cull_hub: Hub):
    cull_hub.start_workspace("fay", "cpu", {"image": "lab"})
    time.sleep(2.5)
    try:
        out = cull_pass(cull_hub, default_timeout=3600, rules=[{"match": {"gpu": True}, "timeout": 1}])
        decision = out["by_server"]["fay/cpu"]
        assert (decision["action"], decision["rule"], decision["reason"]) == ("kept", "default", "active")
    finally:
        cleanup(cull_hub, "fay", "cpu")


def test_the_culler_token_cannot_delete_users_or_remove_named_servers(cull_hub: Hub):
    cull_hub.start_workspace("gus", "precious", {"image": "lab"})
    try:
        headers = {"Authorization": f"token {cull_hub.culler_token}"}
        api = f"{cull_hub.url}/hub/api"
        r = requests.delete(f"{api}/users/gus/servers/precious", headers=headers, json={"remove": True}, timeout=30)
        assert r.status_code == 403
        r = requests.delete(f"{api}/users/gus", headers=headers, timeout=30)
        assert r.status_code == 403
        r = requests.post(f"{api}/users/gus/servers/other", headers=headers, json={}, timeout=30)
        assert r.status_code == 403
        assert cull_hub.server("gus", "precious")["ready"]
        # what it may do: list running servers with their activity
        r = requests.get(f"{api}/users?state=ready", headers=headers, timeout=30)
        assert r.status_code == 200 and any(u["name"] == "gus" for u in r.json())
    finally:
        cleanup(cull_hub, "gus", "precious")


def test_a_server_that_cannot_be_probed_is_kept_and_the_pass_goes_on(cull_hub: Hub):
    cull_hub.start_workspace("hal", "frozen", {"image": "lab"})
    cull_hub.start_workspace("hal", "idle", {"image": "lab"})
    pid = cull_hub.state("hal", "frozen")["pid"]
    time.sleep(2.5)
    os.kill(pid, signal.SIGSTOP)  # it stops answering: the probe times out
    try:
        out = cull_pass(cull_hub, default_timeout=2, probe_timeout=1)
        frozen = out["by_server"]["hal/frozen"]
        assert frozen["action"] == "kept"
        assert frozen["reason"].startswith("probe failed (server)")
        assert out["report"]["probe_failures"] == 1
        assert out["by_server"]["hal/idle"]["action"] == "stopped"  # the pass went on
        assert "probe failed (server)" in out["log"]
    finally:
        os.kill(pid, signal.SIGCONT)
    stopped(cull_hub, "hal", "idle")
    cleanup(cull_hub, "hal", "frozen")


def test_the_hub_runs_the_culler_and_it_reports_what_it_did(tmp_path):
    hub = Hub(tmp_path, settings={"culling": {"default_timeout": 2, "startup_grace": 0, "every": 1}}).start()
    try:
        hub.start_workspace("ida", "forgotten", {"image": "lab"})
        stopped(hub, "ida", "forgotten")
        assert hub.workspace_folder("ida", "forgotten").exists()

        admin = hub.user_token("admin")  # admins may use every service
        decisions = hub.get("/services/culler/api/decisions", token=admin)
        assert decisions.status_code == 200, decisions.text
        [culled] = decisions.json()["culled"]
        assert (culled["user"], culled["server"], culled["action"], culled["rule"]) == ("ida", "forgotten", "stopped", "default")
        assert culled["at"] and culled["idle_seconds"] >= 2
        metrics = hub.get("/services/culler/metrics", token=admin)
        assert metrics.status_code == 200
        assert 'workspaces_culler_culled_total{rule="default"} 1.0' in metrics.text
        assert "workspaces_culler_pass_duration_seconds_count" in metrics.text
        assert "Culler: stopped ida/forgotten: idle past its timeout (rule default" in hub.log()
        # not for everyone: a user without access to the service is refused
        assert hub.get("/services/culler/metrics", token=hub.user_token("ida")).status_code == 403
    finally:
        hub.shutdown()
