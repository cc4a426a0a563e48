"""Attack: a user reads everyone's running workspaces through the culler's lean list.

The hub serves the culler a list of every ready server with its spec
(``culler/ready_servers.py``). Every user's token carries ``list:users``,
limited to themselves; a handler that only asked for ``list:users`` would
answer them with everyone's servers.
"""

from __future__ import annotations

import pytest

from culler.hub import READY_SERVERS

from ..support.hub import Hub

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def running(hub: Hub) -> Hub:
    hub.start_workspace("rsa-alice", "secret-project", {"image": "lab"})
    yield hub
    hub.api("DELETE", "/users/rsa-alice/servers/secret-project")


def test_the_culler_lists_every_ready_server_with_what_it_decides_on(running: Hub):
    r = running.api("GET", READY_SERVERS, token=running.culler_token)
    assert r.status_code == 200, r.text
    [mine] = [item for item in r.json()["items"] if item["name"] == "rsa-alice"]
    server = mine["servers"]["secret-project"]
    assert server["ready"] and server["user_options"]["image"] == "lab" and server["last_activity"]


def test_a_user_cannot_list_other_users_ready_servers(running: Hub):
    r = running.api("GET", READY_SERVERS, token=running.user_token("rsa-bob"))
    assert r.status_code == 403
    assert "rsa-alice" not in r.text and "secret-project" not in r.text


def test_a_user_cannot_list_even_their_own_servers_through_it(running: Hub):
    # a filtered answer would be a second, partial copy of /users: the list is the culler's
    r = running.api("GET", READY_SERVERS, token=running.user_token("rsa-alice"))
    assert r.status_code == 403
    assert "list:users" in r.json()["message"]


def test_a_token_that_reads_only_some_users_servers_cannot_list_everyones(running: Hub):
    # every user may be listed, but servers read only for one: /users would show no one else's servers
    scopes = ["list:users", "read:users:groups", "read:servers!user=rsa-bob"]
    r = running.api("POST", "/users/admin/tokens", json={"scopes": scopes, "expires_in": 600, "note": "narrowed"})
    assert r.status_code == 201, r.text
    r = running.api("GET", READY_SERVERS, token=r.json()["token"])
    assert r.status_code == 403
    assert "secret-project" not in r.text and "read:servers" in r.json()["message"]
