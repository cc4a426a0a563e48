"""Reaching Vera's VS Code without being Vera, on the local backend with the hub run as root.

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
def vera_code(hub: Hub) -> Iterator[Hub]:
    """Vera's running VS Code workspace on the session's hub."""
    with vscode_workspace(hub, "vera", "code"):
        yield hub


def test_code_server_listens_on_no_tcp_port(vera_code: Hub):
    ports, sockets = listening_endpoints(code_server_pids(vera_code))
    assert ports == set()
    assert sockets  # it listens, on a Unix socket


def test_another_local_account_cannot_reach_code_server(vera_code: Hub):
    ports, sockets = listening_endpoints(code_server_pids(vera_code))
    addresses = [("tcp", port) for port in ports] + [("unix", path) for path in sockets]
    assert addresses
    for kind, address in addresses:
        assert reach_as("nobody", kind, address) in ("PermissionError", "ConnectionRefusedError"), (kind, address)


def test_code_server_runs_as_the_workspaces_account(vera_code: Hub):
    server_uid = Path(f"/proc/{vera_code.state('vera', 'code')['pid']}").stat().st_uid
    assert server_uid != 0
    assert {Path(f"/proc/{pid}").stat().st_uid for pid in code_server_pids(vera_code)} == {server_uid}
    assert pwd.getpwuid(server_uid).pw_name != "root"


def refused(r: requests.Response) -> bool:
    """Refused by the server's login: 403/404, or sent to the hub to log in (never code-server's
    own answer, a redirect to ./?folder=...)."""
    if r.status_code in (403, 404):
        return True
    location = r.headers.get("Location", "")
    return r.status_code == 302 and ("/hub/login" in location or "/hub/api/oauth2/authorize" in location)


def test_vscode_through_the_proxy_without_a_login_is_sent_to_log_in(vera_code: Hub):
    r = requests.get(f"{vera_code.url}/user/vera/code/vscode/", allow_redirects=False, timeout=30)
    assert r.status_code == 302 and refused(r), (r.status_code, r.headers.get("Location"))


def test_another_hub_user_cannot_open_veras_vscode(vera_code: Hub):
    r = vera_code.get("/user/vera/code/vscode/", token=vera_code.user_token("walt"), allow_redirects=False)
    assert refused(r), (r.status_code, r.headers.get("Location"), r.text[:300])


def test_a_user_sees_the_entrys_kind_but_not_the_environment_an_admin_gave_it(vera_code: Hub):
    # kind_options.env may hold what users should not read (a team's token, say): admins only
    [shown] = [i for i in vera_code.ws("GET", "/images", token=vera_code.user_token("vera")).json()["items"] if i["id"] == "vscode"]
    assert shown["kind_info"]["url"] == "/vscode/"
    assert "JUPYTERHUB_ACTIVITY_INTERVAL" not in str(shown)
    [admin] = [i for i in vera_code.ws("GET", "/images").json()["items"] if i["id"] == "vscode"]
    assert admin["kind_env"]["JUPYTERHUB_ACTIVITY_INTERVAL"] == "1"
