"""Attacks on the keep-alive: keeping someone else's workspace running, and credentials reaching a user's server.

A keep-alive holds a workspace (and its GPUs) past its stop, so it needs what
stopping needs: the ``servers`` scope on that server. And a keep-alive must
reach Alice's server without anyone's credential being sent there: the API
records it on the hub, and her server pulls it with its own token.
"""

from __future__ import annotations

import json
import os

import pytest

from ..support.hub import Hub, wait_for
from .test_culler_credentials import RECORDER, as_owner, credentials

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def alice_ws(hub: Hub) -> str:
    """Alice's running workspace, whose server records every request that reaches it."""
    hub.start_workspace("alice", "kept", {"image": "lab"})
    # her own server config, in her home (the workspace folder), as she could write it from a kernel
    folder = hub.workspace_folder("alice", "kept")
    config = folder / ".jupyter" / "jupyter_server_config.py"
    config.parent.mkdir(exist_ok=True)
    config.write_text(RECORDER)
    owner = folder.stat()
    for path in (config.parent, config):
        os.chown(path, owner.st_uid, owner.st_gid)
    hub.api("DELETE", "/users/alice/servers/kept")
    hub.wait_stopped("alice", "kept")
    hub.start_workspace("alice", "kept")
    return "kept"


def cull_at(hub: Hub, name: str) -> str:
    return hub.ws("GET", f"/workspaces/alice/{name}").json()["cull_at"]


def test_bob_cannot_keep_alices_workspace_running(hub: Hub, alice_ws: str):
    before = cull_at(hub, alice_ws)
    r = hub.ws("POST", f"/workspaces/alice/{alice_ws}/keepalive", token=hub.user_token("bob"))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found"), r.text  # he may not even see it
    assert cull_at(hub, alice_ws) == before


def test_who_may_see_and_post_activity_for_alice_but_not_stop_her_workspace_cannot_keep_it_running(hub: Hub, alice_ws: str):
    # an admin's token narrowed to reading Alice's servers and posting her activity: not the stop permission
    scopes = ["read:servers!user=alice", "users:activity!user=alice", "access:services!service=workspaces"]
    r = hub.api("POST", "/users/admin/tokens", json={"scopes": scopes, "expires_in": 600, "note": "keepalive attack"})
    assert r.status_code == 201, r.text
    before = cull_at(hub, alice_ws)
    r = hub.ws("POST", f"/workspaces/alice/{alice_ws}/keepalive", token=r.json()["token"])
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), r.text
    assert "permission to stop it" in r.json()["error"]["message"]
    assert cull_at(hub, alice_ws) == before


def test_no_credential_but_alices_own_reaches_her_server_when_an_admin_keeps_it_running(hub: Hub, alice_ws: str):
    log = hub.workspace_folder("alice", alice_ws) / "seen-requests.jsonl"
    assert as_owner(hub, "alice", alice_ws, "GET", "api/status").status_code == 200
    wait_for(lambda: log.exists() and "/api/status" in log.read_text(), 10, "the recorder to log Alice's request")

    r = hub.ws("POST", f"/workspaces/alice/{alice_ws}/keepalive", token=hub.user_token("admin"))
    assert r.status_code == 200, r.text
    r = hub.ws("POST", f"/workspaces/alice/{alice_ws}/keepalive")  # the test's admin service
    assert r.status_code == 200, r.text
    # the server stops itself no sooner than one idle timeout from now
    assert r.json()["cull_warning"] is None

    seen = [json.loads(line) for line in log.read_text().splitlines()]
    for token in credentials(seen):
        who = hub.api("GET", "/user", token=token).json()
        assert (who.get("kind"), who.get("name")) == ("user", "alice"), f"{who.get('kind')} {who.get('name')}'s token reached Alice's server"
