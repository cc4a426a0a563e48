"""Reaching Ann's VS Code without being Ann, on the local backend with the hub run as root.

code-server runs with ``--auth none``: the workspace's own server, which only its owner's
hub login opens, is its login. So code-server must listen nowhere else: not on a TCP port
(every local account can connect to 127.0.0.1), only on a Unix socket in a folder of the
workspace's account (the vscode kind's JUPYTER_VSCODE_PROXY_USE_SOCKET, workspaces/kinds.py).
"""

from __future__ import annotations

import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..support.hub import Hub
from ..support.vscode import code_server_pids, listening_endpoints, reach_as, vscode_workspace

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def ann_code(hub: Hub) -> Iterator[Hub]:
    """Ann's running VS Code workspace on the session's hub."""
    with vscode_workspace(hub, "ann", "code"):
        yield hub


def test_code_server_listens_on_no_tcp_port(ann_code: Hub):
    ports, sockets = listening_endpoints(code_server_pids(ann_code))
    assert ports == set()
    assert sockets  # it listens, on a Unix socket


def test_another_local_account_cannot_reach_code_server(ann_code: Hub):
    ports, sockets = listening_endpoints(code_server_pids(ann_code))
    addresses = [("tcp", port) for port in ports] + [("unix", path) for path in sockets]
    assert addresses
    for kind, address in addresses:
        assert reach_as("nobody", kind, address) in ("PermissionError", "ConnectionRefusedError"), (kind, address)


def test_code_server_runs_as_the_workspaces_account(ann_code: Hub):
    server_uid = Path(f"/proc/{ann_code.state('ann', 'code')['pid']}").stat().st_uid
    assert server_uid != 0
    assert {Path(f"/proc/{pid}").stat().st_uid for pid in code_server_pids(ann_code)} == {server_uid}
    assert pwd.getpwuid(server_uid).pw_name != "root"


def test_vscode_through_the_proxy_without_a_login_is_sent_to_log_in(ann_code: Hub):
    r = requests.get(f"{ann_code.url}/user/ann/code/vscode/", allow_redirects=False, timeout=30)
    assert r.status_code == 302
    assert "/hub/login" in r.headers["Location"] or "/hub/api/oauth2/authorize" in r.headers["Location"]


def test_another_hub_user_cannot_open_anns_vscode(ann_code: Hub):
    r = ann_code.get("/user/ann/code/vscode/", token=ann_code.user_token("bob"), allow_redirects=False)
    assert r.status_code in (403, 404)
    assert "code-server" not in r.text.lower()
