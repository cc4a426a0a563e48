"""Sharing a workspace, attacked: who is not its owner manages none of its shares, a share opens
one workspace and nothing more, the API gains no hub power for it, and a hub whose users are
not isolated refuses to share at all (the API and the hub itself).

Alice owns ``one`` and ``two`` (both running a stub server: what a share grants is the hub's
scopes, which a server then checks; the browser test shows JupyterLab honouring them); Bob is
given ``one``; Mallory is given nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from workspaces.sharing import USER_SHARING_SCOPES

from ..support.hub import DATA, Hub
from ..support.stub_server import LOCAL_RUNTIME as STUB_RUNTIME

pytestmark = pytest.mark.hub

# names no other module of the session's hub uses, so every scope naming Alice is about this test
ALICE, BOB, MALLORY = "share-alice", "share-bob", "share-mallory"
STUB_ENTRY = {"id": "stub", "display_name": "Stub", "image": "example.org/stub:1", "local": STUB_RUNTIME}


class Sharing(NamedTuple):
    hub: Hub
    alice: str
    bob: str
    mallory: str


def stub_catalog(folder: Path) -> Path:
    """The test catalog and a stub image, which starts in a fraction of a second."""
    catalog = yaml.safe_load((DATA / "catalog.yaml").read_text())
    catalog["images"].append(STUB_ENTRY)
    (folder / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    return folder / "catalog.yaml"


@pytest.fixture(scope="module")
def sharing(hub: Hub) -> Iterator[Sharing]:
    """The session's hub (run as root: users isolated), its catalog given the stub image
    while this module runs (the hub reads its catalog again at each start)."""
    before = hub.catalog_file.read_text()
    catalog = yaml.safe_load(before)
    catalog["images"].append(STUB_ENTRY)
    hub.catalog_file.write_text(yaml.safe_dump(catalog))
    tokens = Sharing(hub, hub.user_token(ALICE), hub.user_token(BOB), hub.user_token(MALLORY))
    try:
        for name in ("one", "two"):
            r = hub.ws("POST", "/workspaces", token=tokens.alice, json={"name": name, "spec": {"image": "stub"}}, timeout=60)
            assert r.status_code == 201, r.text
        for name in ("one", "two"):
            hub.wait_ready(ALICE, name)
        r = hub.ws("POST", f"/workspaces/{ALICE}/one/shares", token=tokens.alice, json={"user": BOB})
        assert r.status_code == 201, r.text
        yield tokens
    finally:
        for name in ("one", "two"):
            hub.api("DELETE", f"/users/{ALICE}/servers/{name}", json={"remove": True})
        hub.catalog_file.write_text(before)


def shares_of(s: Sharing, name: str) -> dict:
    r = s.hub.ws("GET", f"/workspaces/{ALICE}/{name}/shares", token=s.alice)
    assert r.status_code == 200, r.text
    return r.json()


def test_someone_else_can_neither_list_nor_grant_nor_revoke_shares_of_a_workspace(sharing: Sharing) -> None:
    before = shares_of(sharing, "one")
    for method, body in (("GET", None), ("POST", {"user": MALLORY}), ("POST", {"code": {}}), ("DELETE", {"all": True})):
        r = sharing.hub.ws(method, f"/workspaces/{ALICE}/one/shares", token=sharing.mallory, json=body)
        assert r.status_code == 404, (method, body, r.text)  # not hers: it does not exist for her
        assert r.json()["error"]["code"] == "not_found"
    # nor through the hub, around the API
    r = sharing.hub.api("POST", f"/shares/{ALICE}/one", token=sharing.mallory, json={"user": MALLORY})
    assert r.status_code in (403, 404), r.text
    assert shares_of(sharing, "one") == before


def test_a_user_a_workspace_is_shared_with_cannot_share_it_on(sharing: Sharing) -> None:
    before = shares_of(sharing, "one")
    for body in ({"user": MALLORY}, {"code": {}}):
        r = sharing.hub.ws("POST", f"/workspaces/{ALICE}/one/shares", token=sharing.bob, json=body)
        assert r.status_code == 404, r.text
        r = sharing.hub.api("POST", f"/{'share-codes' if 'code' in body else 'shares'}/{ALICE}/one",
                            token=sharing.bob, json={} if "code" in body else body)
        assert r.status_code in (403, 404), r.text  # the hub: Bob may reach the server, not share it
    r = sharing.hub.ws("DELETE", f"/workspaces/{ALICE}/one/shares", token=sharing.bob, json={"all": True})
    assert r.status_code == 404, r.text
    assert shares_of(sharing, "one") == before


def test_a_share_opens_that_workspace_and_none_of_the_owners_others(sharing: Sharing) -> None:
    hub = sharing.hub
    bob = hub.api("GET", "/user", token=sharing.bob).json()
    alices = sorted(s for s in bob["scopes"] if ALICE in s)
    # what the hub lets Bob do with Alice's things: reach this one server, and only that
    assert alices == [f"access:servers!server={ALICE}/one"], bob["scopes"]
    mallory = hub.api("GET", "/user", token=sharing.mallory).json()
    assert [s for s in mallory["scopes"] if ALICE in s] == []
    # nor does the share let Bob read, stop or manage either workspace through the API
    for route in ("one", "two", "two/shares"):
        assert hub.ws("GET", f"/workspaces/{ALICE}/{route}", token=sharing.bob).status_code == 404, route
    assert hub.ws("POST", f"/workspaces/{ALICE}/one/stop", token=sharing.bob).status_code == 404
    assert hub.server(ALICE, "one")["ready"]


def test_users_gain_only_the_sharing_scopes_and_the_api_service_none(sharing: Sharing) -> None:
    hub = sharing.hub
    scopes = set(hub.api("GET", "/user", token=sharing.mallory).json()["scopes"])
    # beyond what concerns themselves: naming who to share with, and nothing else
    assert {s for s in scopes if "!" not in s} == {"read:users:name", "read:groups:name"}
    # sharing itself only on their own servers
    sharing_scopes = {s for s in scopes if s.split("!")[0] in ("shares", "read:shares", "users:shares", "groups:shares")}
    assert sharing_scopes and all(s.endswith(f"!user={MALLORY}") for s in sharing_scopes), sharing_scopes
    assert f"shares!user={MALLORY}" in scopes
    assert USER_SHARING_SCOPES == ("shares!user", "read:users:name", "read:groups:name")
    admin = hub.user_token("admin")  # the hub's own admin may read services
    service = hub.api("GET", "/services/workspaces", token=admin).json()
    assert service["roles"] == [], service  # the API acts with each caller's token, never its own


def test_a_hub_whose_users_are_not_isolated_refuses_every_share(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub", catalog=stub_catalog(tmp_path), settings={"local": {"isolation": "none"}})
    try:
        hub.start()
        alice = hub.user_token(ALICE)
        hub.user_token(BOB)
        r = hub.ws("POST", "/workspaces", token=alice, json={"name": "one", "spec": {"image": "stub"}}, timeout=60)
        assert r.status_code == 201, r.text
        for body in ({"user": BOB}, {"code": {"expires_in": 3600}}):
            r = hub.ws("POST", f"/workspaces/{ALICE}/one/shares", token=alice, json=body)
            assert r.status_code == 409, r.text
            error = r.json()["error"]
            assert error["code"] == "sharing_off"
            assert "not isolated" in error["message"] and "local.isolation: users" in error["message"]
        assert hub.ws("GET", "/info", token=alice).json()["sharing"]["refused"] == error["message"]
        # the hub itself refuses too: users hold no sharing scope there
        assert hub.api("POST", f"/shares/{ALICE}/one", token=alice, json={"user": BOB}).status_code == 403
        assert hub.api("POST", f"/share-codes/{ALICE}/one", token=alice, json={}).status_code == 403
        assert hub.ws("GET", f"/workspaces/{ALICE}/one/shares", token=alice).json() == {"shares": [], "codes": []}
        r = hub.ws("DELETE", f"/workspaces/{ALICE}/one/shares", token=alice, json={"all": True})
        assert (r.status_code, r.json()["error"]["code"]) == (409, "sharing_off")  # nothing to revoke, and why
    finally:
        hub.shutdown()
