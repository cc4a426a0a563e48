"""A hub restart does not stop anybody's work, and the hub finds its workspaces again."""

from __future__ import annotations

import os
import signal

import pytest

from ..support.hub import Hub, process_gone, wait_for

pytestmark = pytest.mark.hub


@pytest.fixture
def restartable_hub(tmp_path):
    h = Hub(tmp_path).start()
    try:
        yield h
    finally:
        h.shutdown()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_running_workspace_survives_a_hub_restart(restartable_hub: Hub, how):
    hub = restartable_hub
    hub.start_workspace("ivy", "long-job", {"image": "lab"})
    pid = hub.state("ivy", "long-job")["pid"]
    token = hub.user_token("ivy")

    hub.stop(sig=how)
    os.kill(pid, 0)  # still alive without the hub
    hub.start()

    r = hub.get("/user/ivy/long-job/api/status", token=token)
    assert r.status_code == 200, r.text
    server = hub.server("ivy", "long-job")
    assert server["ready"] and hub.state("ivy", "long-job")["pid"] == pid
    # and it can still be stopped normally, keeping its folder
    hub.api("DELETE", "/users/ivy/servers/long-job")
    hub.wait_stopped("ivy", "long-job")
    assert hub.workspace_folder("ivy", "long-job").exists()


def test_a_killed_hub_leaves_no_service_behind(tmp_path):
    hub = Hub(tmp_path).start()
    try:
        ports = {"culler": hub.culler_port, "workspaces API": hub.api_port}
        for what, port in ports.items():
            wait_for(lambda: hub._pids_listening_on(port), 20, f"the {what} to listen")
        services = {what: hub._pids_listening_on(port)[0] for what, port in ports.items()}
        os.kill(hub.proc.pid, signal.SIGKILL)
        hub.proc.wait(10)
        for what, pid in services.items():
            wait_for(lambda: process_gone(pid), 10, f"the orphaned {what} to exit")
        hub.start()  # and the restarted hub starts fresh ones on the same ports
        for what, port in ports.items():
            wait_for(lambda: hub._pids_listening_on(port), 20, f"the new {what} to listen")
    finally:
        hub.shutdown()
