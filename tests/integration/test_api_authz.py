"""Who may call what: every operation of the OpenAPI document, for every kind of caller.

``OPERATIONS`` is the rule book as data: one line per operation, the status
each caller must get. Callers: ``anonymous`` (no Authorization header),
``bad-token``, ``culler`` (the culler's token: no access to this service),
``owner`` (ann, a user), ``other`` (ben, another user), ``curator`` (cy, a user
granted only the catalog scope through a role), ``admin`` (``hub.admin_token``,
a service with admin scopes, catalog scope included) and ``hub-admin`` (the user
``admin`` of ``auth.admin_users``, with a token of their own). Anonymous and
bad-token calls get 401; the culler 403; a user 403 on catalog writes and on everyone's use (/usage), and 404,
never 403, on another user's workspace (existence is not revealed); the curator
writes the catalog and is otherwise a user; the owner and both admins succeed.
Each (caller, operation) is one named case, and every refused call is also
checked to change nothing.

Workspaces of the owner (ann):
- ``a1``: created in setup through the API with the default spec (real
  JupyterLab), then stopped; the target of reads and spec updates.
- ``lc``: the lifecycle target of start, stop, progress and delete. Its image
  ``stub`` runs a tiny HTTP server instead of JupyterLab (a start takes a
  fraction of a second), so each row can bring it to the state the row needs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
import requests
import yaml

from workspaces.api.app import OPENAPI

from ..support.hub import DATA, Hub, wait_for
from ..support.stub_server import LOCAL_RUNTIME as STUB_RUNTIME

pytestmark = pytest.mark.hub

OWNER, OTHER, CURATOR = "ann", "ben", "cy"

# cy may edit the catalog, by a role the admin wrote, and nothing else beyond a user
CURATOR_ROLE = f"""
c.JupyterHub.load_roles.append(
    {{"name": "catalog-curators", "scopes": ["custom:workspaces:catalog"], "users": [{CURATOR!r}]}}
)
"""

STUB_IMAGE = {
    "id": "stub",
    "display_name": "Stub",
    "image": "example.org/stub:1",
    "local": STUB_RUNTIME,
}
LC_SPEC = {"image": "stub"}

# Catalog writes: "new" is what POST adds; "scratch" is what PUT, DELETE and
# deprecate act on (added before the row, removed after it).
NEW_IMAGE = {"id": "authz-new", "display_name": "Authz New", "image": "example.org/authz-new:1"}
SCRATCH = {"id": "authz-scratch", "display_name": "Authz Scratch", "image": "example.org/authz-scratch:1"}
SCRATCH_CHANGED = {**SCRATCH, "display_name": "Changed"}

CURRENT_REVISION = "<a1's current revision>"  # filled in when the row runs


class Row(NamedTuple):
    caller: str
    method: str
    path: str  # as in the OpenAPI document, with the values filled in
    template: str  # the document's path template
    expected: int
    body: dict[str, Any] | None = None
    lc: str | None = None  # the state workspace lc must be in first: running or stopped
    scratch: bool = False  # the scratch image must exist first

    @property
    def refused(self) -> bool:
        return self.expected in (401, 403, 404)

    @property
    def id(self) -> str:
        return f"{self.caller}-{self.method}-{self.path}"


class Operation(NamedTuple):
    method: str
    template: str
    path: str
    statuses: tuple[int, int, int, int, int, int, int, int]  # one per caller, in the order of CALLERS
    body: dict[str, Any] | None = None
    lc: str | None = None
    scratch: bool = False


CALLERS = ("anonymous", "bad-token", "culler", "owner", "other", "curator", "admin", "hub-admin")
WS = f"/workspaces/{OWNER}"
IMG = f"/images/{SCRATCH['id']}"
NEW_WORKSPACE = {"owner": OWNER, "name": "new", "spec": LC_SPEC}
SPEC_CHANGE = {"spec": {"image": "lab", "profile": "medium"}, "revision": CURRENT_REVISION}

# The rules, one line per operation of the document.   anonymous bad-token culler owner other curator admin hub-admin
OPERATIONS = [
    Operation("GET", "/workspaces", "/workspaces",                               (401, 401, 403, 200, 200, 200, 200, 200)),
    Operation("POST", "/workspaces", "/workspaces",                              (401, 401, 403, 201, 404, 404, 201, 201),
              body=NEW_WORKSPACE),
    Operation("GET", "/workspaces/{owner}/{name}", f"{WS}/a1",                   (401, 401, 403, 200, 404, 404, 200, 200)),
    Operation("PATCH", "/workspaces/{owner}/{name}", f"{WS}/a1",                 (401, 401, 403, 200, 404, 404, 200, 200),
              body=SPEC_CHANGE),
    Operation("DELETE", "/workspaces/{owner}/{name}", f"{WS}/lc",                (401, 401, 403, 204, 404, 404, 204, 204),
              lc="stopped"),
    Operation("POST", "/workspaces/{owner}/{name}/start", f"{WS}/lc/start",      (401, 401, 403, 200, 404, 404, 200, 200),
              lc="stopped"),
    Operation("GET", "/workspaces/{owner}/{name}/progress", f"{WS}/lc/progress", (401, 401, 403, 200, 404, 404, 200, 200),
              lc="running"),
    Operation("POST", "/workspaces/{owner}/{name}/stop", f"{WS}/lc/stop",        (401, 401, 403, 200, 404, 404, 200, 200),
              lc="running"),
    Operation("POST", "/workspaces/{owner}/{name}/keepalive", f"{WS}/lc/keepalive",
                                                                                 (401, 401, 403, 200, 404, 404, 200, 200),
              lc="running"),
    # sharing: only the owner and admins; a workspace shared with "other" (see prepared) stays not theirs to manage
    Operation("GET", "/workspaces/{owner}/{name}/shares", f"{WS}/a1/shares",     (401, 401, 403, 200, 404, 404, 200, 200)),
    Operation("POST", "/workspaces/{owner}/{name}/shares", f"{WS}/a1/shares",    (401, 401, 403, 201, 404, 404, 201, 201),
              body={"user": CURATOR}),
    Operation("DELETE", "/workspaces/{owner}/{name}/shares", f"{WS}/a1/shares",  (401, 401, 403, 204, 404, 404, 204, 204),
              body={"all": True}),
    Operation("GET", "/shared", "/shared",                                       (401, 401, 403, 200, 200, 200, 200, 200)),
    Operation("GET", "/images", "/images",                                       (401, 401, 403, 200, 200, 200, 200, 200)),
    Operation("POST", "/images", "/images",                                      (401, 401, 403, 403, 403, 201, 201, 201),
              body=NEW_IMAGE),
    Operation("GET", "/images/{id}", "/images/lab",                              (401, 401, 403, 200, 200, 200, 200, 200)),
    Operation("PUT", "/images/{id}", IMG,                                        (401, 401, 403, 403, 403, 200, 200, 200),
              body=SCRATCH_CHANGED, scratch=True),
    Operation("DELETE", "/images/{id}", IMG,                                     (401, 401, 403, 403, 403, 204, 204, 204),
              scratch=True),
    Operation("POST", "/images/{id}/deprecate", f"{IMG}/deprecate",              (401, 401, 403, 403, 403, 200, 200, 200),
              body={"message": "Going."}, scratch=True),
    Operation("GET", "/profiles", "/profiles",                                   (401, 401, 403, 200, 200, 200, 200, 200)),
    Operation("GET", "/namespaces", "/namespaces",                               (401, 401, 403, 200, 200, 200, 200, 200)),
    Operation("GET", "/info", "/info",                                           (401, 401, 403, 200, 200, 200, 200, 200)),
    Operation("GET", "/usage", "/usage",                                         (401, 401, 403, 403, 403, 403, 200, 200)),
]

MATRIX = [
    Row(caller, op.method, op.path, op.template, expected, op.body, op.lc, op.scratch)
    for op in OPERATIONS
    for caller, expected in zip(CALLERS, op.statuses, strict=True)
]

ERROR_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found"}


# -- the hub ----------------------------------------------------------------------------------


class Setup(NamedTuple):
    hub: Hub
    tokens: dict[str, str]  # caller -> token ("" sends no header)
    a1: dict[str, Any]  # a1 as the API showed it after setup


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("authz")
    catalog = yaml.safe_load((DATA / "catalog.yaml").read_text())
    catalog["images"].append(STUB_IMAGE)
    (root / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    hub = Hub(root / "hub", catalog=root / "catalog.yaml", extra_config=CURATOR_ROLE)
    try:
        hub.start()
        owner = hub.user_token(OWNER)
        tokens = {
            "anonymous": "",
            "bad-token": secrets.token_hex(16),
            "culler": hub.culler_token,
            "owner": owner,
            "other": hub.user_token(OTHER),
            "curator": hub.user_token(CURATOR),
            "admin": hub.admin_token,
            "hub-admin": hub.user_token("admin"),
        }
        r = hub.ws("POST", "/workspaces", token=owner, json={"name": "a1"}, timeout=60)
        assert r.status_code == 201, r.text
        hub.wait_ready(OWNER, "a1")
        assert hub.ws("POST", f"/workspaces/{OWNER}/a1/stop", token=owner).status_code == 200
        hub.wait_stopped(OWNER, "a1")
        a1 = hub.ws("GET", f"/workspaces/{OWNER}/a1", token=owner).json()
        assert a1["state"] == "stopped"
        yield Setup(hub, tokens, a1)
    finally:
        hub.shutdown()


def ensure_lc(s: Setup, state: str) -> None:
    """Bring the owner's workspace lc to ``state`` (running or stopped), creating it if need be."""
    hub, token = s.hub, s.tokens["owner"]
    server = hub.server(OWNER, "lc")
    if server is None:
        r = hub.ws("POST", "/workspaces", token=token, json={"name": "lc", "spec": LC_SPEC})
        assert r.status_code == 201, r.text
        hub.wait_ready(OWNER, "lc")
    elif server["pending"]:
        wait_for(lambda: not (hub.server(OWNER, "lc") or {}).get("pending"), 30, "lc to settle")
    server = hub.server(OWNER, "lc")
    if state == "running" and not server["ready"]:
        assert hub.ws("POST", f"/workspaces/{OWNER}/lc/start", token=token).status_code == 200
        hub.wait_ready(OWNER, "lc")
    if state == "stopped" and server["ready"]:
        assert hub.ws("POST", f"/workspaces/{OWNER}/lc/stop", token=token).status_code == 200
        hub.wait_stopped(OWNER, "lc")


def remove_image(s: Setup, image_id: str) -> None:
    r = s.hub.ws("DELETE", f"/images/{image_id}")
    assert r.status_code in (204, 404), r.text


def snapshot(s: Setup, shares: bool = False) -> dict[str, Any]:
    """What a call could change: the owner's workspaces (state, spec, revision) and the whole catalog;
    with ``shares``, who a1 is shared with (asked only for the share rows: one more call each)."""
    hub = s.hub
    server_names = sorted(hub.api("GET", f"/users/{OWNER}", params={"include_stopped_servers": "1"}).json()["servers"])
    workspaces = hub.ws("GET", "/workspaces", params={"owner": OWNER}).json()["items"]
    return {
        "servers": server_names,
        "workspaces": {w["name"]: (w["state"], w["spec"], w["revision"], w["restart_pending"]) for w in workspaces},
        "images": hub.ws("GET", "/images").json()["items"],
    } | ({"a1 shares": hub.ws("GET", f"/workspaces/{OWNER}/a1/shares").json()} if shares else {})


def shared_first(row: Row) -> bool:
    return row.template.endswith("/shares") and (row.method == "DELETE" or row.caller == "other")


@pytest.fixture
def prepared(setup: Setup, request: pytest.FixtureRequest) -> Iterator[Setup]:
    """Brings the hub to the state the row needs; afterwards undoes what an allowed call changed."""
    row: Row = request.param
    if row.lc:
        ensure_lc(setup, row.lc)
    if row.scratch:
        remove_image(setup, SCRATCH["id"])
        assert setup.hub.ws("POST", "/images", json=SCRATCH).status_code == 201
    if shared_first(row):
        # shared with "other" first: a share to revoke, or a user it is shared with who must not manage it
        assert setup.hub.ws("POST", f"/workspaces/{OWNER}/a1/shares", json={"user": OTHER}).status_code == 201
    yield setup
    hub = setup.hub
    if shared_first(row) or (row.template.endswith("/shares") and row.method == "POST" and not row.refused):
        assert hub.ws("DELETE", f"/workspaces/{OWNER}/a1/shares", json={"all": True}).status_code == 204
    remove_image(setup, SCRATCH["id"])
    remove_image(setup, NEW_IMAGE["id"])
    if hub.server(OWNER, "new") is not None:
        hub.api("DELETE", f"/users/{OWNER}/servers/new", json={"remove": True})
        hub.wait_removed(OWNER, "new")
    a1 = hub.ws("GET", f"/workspaces/{OWNER}/a1").json()
    if a1["revision"] != setup.a1["revision"]:
        body = {"spec": setup.a1["spec"], "revision": a1["revision"]}
        assert hub.ws("PATCH", f"/workspaces/{OWNER}/a1", json=body).status_code == 200


def call(s: Setup, row: Row) -> requests.Response:
    body = row.body
    if body is not None and body.get("revision") == CURRENT_REVISION:
        body = {**body, "revision": s.hub.ws("GET", f"/workspaces/{OWNER}/a1").json()["revision"]}
    return s.hub.ws(row.method, row.path, token=s.tokens[row.caller], json=body)


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prepared, row", [(r, r) for r in MATRIX], ids=[r.id for r in MATRIX], indirect=["prepared"])
def test_each_caller_gets_the_status_the_rules_say(prepared: Setup, row: Row) -> None:
    r = call(prepared, row)
    assert r.status_code == row.expected, f"{row.caller} {row.method} {row.path}: {r.status_code} {r.text[:300]}"
    if row.refused:
        assert r.json()["error"]["code"] == ERROR_CODES[row.expected], r.text


REFUSED = [r for r in MATRIX if r.refused]


@pytest.mark.parametrize("prepared, row", [(r, r) for r in REFUSED], ids=[r.id for r in REFUSED], indirect=["prepared"])
def test_a_refused_call_changes_nothing(prepared: Setup, row: Row) -> None:
    shares = row.template.endswith("/shares")
    before = snapshot(prepared, shares)
    r = call(prepared, row)
    assert r.status_code == row.expected, r.text
    assert snapshot(prepared, shares) == before


def test_the_matrix_covers_every_operation_of_the_document() -> None:
    document = json.loads(OPENAPI.read_text())
    documented = {
        (method.upper(), template)
        for template, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }
    covered = {(r.method, r.template) for r in MATRIX}
    assert covered == documented
    for method, template in documented:
        assert {r.caller for r in MATRIX if (r.method, r.template) == (method, template)} == set(CALLERS)


def test_another_user_does_not_see_the_owners_workspaces_in_a_list(setup: Setup) -> None:
    for params in ({}, {"owner": OWNER}):
        r = setup.hub.ws("GET", "/workspaces", token=setup.tokens["other"], params=params)
        assert r.status_code == 200
        assert [w for w in r.json()["items"] if w["owner"] == OWNER] == [], params


def test_the_owner_and_the_admins_see_the_owners_workspaces_in_a_list(setup: Setup) -> None:
    for caller in ("owner", "admin", "hub-admin"):
        r = setup.hub.ws("GET", "/workspaces", token=setup.tokens[caller], params={"owner": OWNER})
        assert r.status_code == 200 and "a1" in [w["name"] for w in r.json()["items"]], caller
