"""Attack: a user records every request that reaches their own server, then goes idle.

A workspace server is the user's code: a ``jupyter_server_config.py`` in their home
(it survives restarts) can log every header it receives. Whatever the culler sends
there, the user has. Before idle workspaces stopped themselves, the culler probed
them and asked them to shut down through the proxy with its own token, which held
``access:servers`` on every server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from ..support.hub import Hub, wait_for
from ..support.kernel import run_in_kernel

pytestmark = pytest.mark.hub

# Alice's server config: log each request's path and headers into her home.
RECORDER = """
import json, os

def _record(handler):
    with open(os.path.expanduser("~/seen-requests.jsonl"), "a") as f:
        f.write(json.dumps({"path": handler.request.path, "headers": dict(handler.request.headers)}) + "\\n")

c.ServerApp.tornado_settings = {"log_function": _record}
"""


def as_owner(hub: Hub, user: str, name: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A request to the workspace's server, as its owner, through the proxy."""
    headers = {"Authorization": f"token {hub.user_token(user)}"}
    return requests.request(method, f"{hub.url}/user/{user}/{name}/{path}", headers=headers, timeout=30, **kwargs)


def credentials(requests_seen: list[dict[str, Any]]) -> set[str]:
    """Every token that reached the server, in a header or as a cookie-less bearer."""
    found = set()
    for request in requests_seen:
        value = request["headers"].get("Authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() in ("token", "bearer") and token:
            found.add(token.strip())
    return found


def test_no_credential_of_anyone_else_reaches_a_users_server_when_the_culler_acts(tmp_path):
    # idle after a second, stopped by max_age after 15 s, a pass every second
    hub = Hub(tmp_path, settings={"culling": {"default_timeout": 1, "startup_grace": 0, "every": 1, "max_age": 15}}).start()
    try:
        hub.start_workspace("alice", "ws", {"image": "lab"})
        # from her own kernel, as any user can
        out = run_in_kernel(hub, "alice", "ws", f"""
import os
os.makedirs(os.path.expanduser("~/.jupyter"), exist_ok=True)
with open(os.path.expanduser("~/.jupyter/jupyter_server_config.py"), "w") as f:
    f.write({RECORDER!r})
print("written")
""")
        assert out.strip() == "written", out
        hub.api("DELETE", "/users/alice/servers/ws")
        hub.wait_stopped("alice", "ws")
        hub.start_workspace("alice", "ws")

        # the recorder works: Alice's own request is in it
        assert as_owner(hub, "alice", "ws", "GET", "api/status").status_code == 200
        log = hub.workspace_folder("alice", "ws") / "seen-requests.jsonl"
        wait_for(lambda: log.exists() and "/api/status" in log.read_text(), 10, "the recorder to log Alice's request")

        # the culler sees the workspace idle for many passes, then stops it
        hub.wait_stopped("alice", "ws", timeout=60)
        def culled() -> list[tuple[str, str]]:
            decisions = hub.get("/services/culler/api/decisions", token=hub.user_token("admin")).json()
            return [(c["user"], c["server"]) for c in decisions["culled"]]

        assert wait_for(culled, 20, "the culler to record its stop") == [("alice", "ws")]

        seen = [json.loads(line) for line in log.read_text().splitlines()]
        for token in credentials(seen):
            who = hub.api("GET", "/user", token=token).json()
            assert (who.get("kind"), who.get("name")) == ("user", "alice"), f"{who.get('kind')} {who.get('name')}'s token reached Alice's server"
    finally:
        hub.shutdown()
