"""Ctrl-C or SIGTERM stops the hub within 3 s: the hub, the proxy it started and
its services (the workspaces API, the culler), with a clean log, and leaves the
running workspaces running.

Ctrl-C is sent as a terminal sends it: SIGINT to the foreground process group,
here the group the hub leads. JupyterHub starts the proxy, the services and the
workspaces in sessions of their own, so the signal reaches the hub alone and the
hub stops the rest. SIGTERM goes to the hub process only, as ``kill PID`` does.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass

import pytest

from ..support.hub import Hub, process_gone, wait_for

pytestmark = pytest.mark.hub

DEADLINE_S = 3.0
# A line that says something went wrong: JupyterHub's and the services' ERROR
# level, the proxy's error level, or a traceback.
TROUBLE = re.compile(r"^\[E |Traceback|\berror\b|ERROR", re.MULTILINE)


@dataclass
class Stopped:
    seconds: dict[str, float]  # from the signal until each process had exited
    log: str  # the hub's log from the signal on
    workspace_pid: int


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A hub with one running workspace."""
    h = Hub(tmp_path_factory.mktemp("hub-stop")).start()
    try:
        h.start_workspace("ivy", "long-job", {"image": "lab"})
        yield h
    finally:
        h.shutdown()


def ctrl_c(hub: Hub) -> None:
    os.killpg(hub.proc.pid, signal.SIGINT)


def sigterm(hub: Hub) -> None:
    os.kill(hub.proc.pid, signal.SIGTERM)


@pytest.fixture(scope="module", params=[ctrl_c, sigterm], ids=["ctrl-c", "sigterm"])
def stopped(request, hub: Hub) -> Stopped:
    """The hub, running with one workspace, stopped by the signal."""
    if hub.proc.poll() is not None:
        hub.start()  # stopped by the other signal; it finds its workspace again
    workspace_pid = hub.state("ivy", "long-job")["pid"]
    listening = {"proxy": hub.port, "culler": hub.culler_port, "workspaces API": hub.api_port}
    pids = {"hub": hub.proc.pid}
    for what, port in listening.items():
        pids[what] = wait_for(lambda: hub._pids_listening_on(port), 30, f"the {what} to listen")[0]
    mark = len(hub.log())

    request.param(hub)
    sent = time.monotonic()
    seconds: dict[str, float] = {}

    def all_gone() -> bool:
        hub.proc.poll()  # reaps the hub, which is the tests' child
        for what, pid in pids.items():
            if what not in seconds and process_gone(pid):
                seconds[what] = time.monotonic() - sent
        return len(seconds) == len(pids)

    # waits past the deadline, so that a slow stop fails with its times
    wait_for(all_gone, 60, "the hub, its proxy and its services to exit", interval=0.02)
    return Stopped(seconds, hub.log()[mark:], workspace_pid)


def test_the_hub_its_proxy_and_its_services_are_gone_within_3_seconds(stopped: Stopped):
    slow = {what: round(s, 2) for what, s in stopped.seconds.items() if s > DEADLINE_S}
    assert not slow, f"still running {DEADLINE_S} s after the signal: {slow} (all: {stopped.seconds})"


def test_the_log_from_the_signal_on_has_no_error_and_no_traceback(stopped: Stopped):
    trouble = [line for line in stopped.log.splitlines() if TROUBLE.search(line)]
    assert not trouble, "\n".join(trouble)
    assert "...done" in stopped.log  # JupyterHub's cleanup ran to its end


def test_running_workspaces_keep_running(stopped: Stopped):
    assert not process_gone(stopped.workspace_pid)
