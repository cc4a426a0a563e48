"""The workspaces REST API end to end: a real hub, the real service behind the proxy, real servers.

Every endpoint, its success and its errors. Authorization across callers is in
test_api_authz.py, fuzzing in test_api_fuzz.py.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from datetime import datetime, timedelta, timezone

import pytest

from ..support.hub import Hub, wait_for

pytestmark = pytest.mark.hub


def error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"}, body
    return body["error"]


@pytest.fixture(scope="module")
def running(hub):
    """uma's workspace 'main', created through the API and running."""
    token = hub.user_token("uma")
    r = hub.ws("POST", "/workspaces", token=token, json={"name": "main", "spec": {"image": "lab"}})
    assert r.status_code == 201, r.text
    yield token, r.json()
    hub.ws("DELETE", "/workspaces/uma/main", token=token)


# -- catalog -------------------------------------------------------------------------------


def test_images_lists_what_the_caller_may_use(hub):
    r = hub.ws("GET", "/images", token=hub.user_token("uma"))
    assert r.status_code == 200
    images = {i["id"]: i for i in r.json()["items"]}
    assert set(images) == {"lab", "cuda", "old-lab", "code-server"}  # team-lab is for the team group
    assert images["old-lab"]["deprecated"] == "Use Test Lab instead."
    assert images["code-server"]["available"] is False and "no local runtime" in images["code-server"]["unavailable_reason"]
    assert "groups" not in images["lab"]  # admin-only detail


def test_a_group_member_also_sees_the_groups_images(hub):
    token = hub.user_token("tim")
    assert hub.api("POST", "/groups/team").status_code in (201, 409)
    assert hub.api("POST", "/groups/team/users", json={"users": ["tim"]}).status_code == 200
    ids = [i["id"] for i in hub.ws("GET", "/images", token=token).json()["items"]]
    assert "team-lab" in ids


def test_one_image_and_its_errors(hub):
    token = hub.user_token("uma")
    assert hub.ws("GET", "/images/lab", token=token).json()["id"] == "lab"
    r = hub.ws("GET", "/images/team-lab", token=token)
    assert r.status_code == 404 and error(r)["code"] == "not_found"


def test_profiles_lists_what_the_caller_may_use(hub):
    r = hub.ws("GET", "/profiles", token=hub.user_token("uma"))
    profiles = {p["id"]: p for p in r.json()["items"]}
    assert set(profiles) == {"small", "medium", "gpu-1"}  # big is for big-users
    assert profiles["small"]["default"] and profiles["gpu-1"]["gpus"] == 1
    assert profiles["small"]["memory"] == {"guarantee": "1Gi", "limit": "2Gi"}


def test_profiles_say_whether_each_can_start_now_on_this_machine(hub):
    # the session's hub sees no GPU (no nvidia-smi on PATH)
    profiles = {p["id"]: p for p in hub.ws("GET", "/profiles", token=hub.user_token("uma")).json()["items"]}
    assert profiles["small"]["capacity"] == {"state": "ready", "available": True, "message": "can start now",
                                             "free": None, "total": None}
    assert profiles["gpu-1"]["capacity"] == {"state": "never", "available": False,
                                             "message": "needs 1 GPU(s), this machine has 0", "free": 0, "total": 0}


def test_catalog_admins_see_every_profile_with_the_rules_behind_it(hub):
    profiles = {p["id"]: p for p in hub.ws("GET", "/profiles").json()["items"]}
    assert set(profiles) == {"small", "medium", "gpu-1", "big"}
    assert profiles["big"]["groups"] == ["big-users"] and profiles["small"]["groups"] == []
    assert profiles["gpu-1"]["gpu_resource"] == "nvidia.com/gpu"
    assert profiles["small"]["idle_timeout"] == 3600  # the default policy


def test_info_names_the_caller_and_what_the_hub_offers(hub):
    info = hub.ws("GET", "/info", token=hub.user_token("uma")).json()
    assert info["caller"] == {
        "name": "uma", "kind": "user", "groups": [], "admin": False, "list_all": False, "catalog_admin": False,
    }
    assert info["backend"] == "local" and info["storage"] == {"default_size": "10Gi", "max_size": "100Gi"}
    assert info["culling"] == {"enabled": True, "dry_run": False, "default_timeout": 3600}
    # its catalog allows none (the form then offers no custom image)
    assert info["custom_images"] == {
        "allow": [], "refused": "custom images are not allowed on this hub; pick an image of the catalog",
    }
    admin = hub.ws("GET", "/info", token=hub.user_token("admin")).json()["caller"]
    assert admin["admin"] and admin["list_all"] and admin["catalog_admin"]


def test_namespaces_are_empty_on_the_local_backend(hub):
    assert hub.ws("GET", "/namespaces", token=hub.user_token("uma")).json() == {"backend": "local", "items": []}


# -- workspaces ------------------------------------------------------------------------------


def test_create_starts_the_workspace_with_its_spec(hub, running):
    _, ws = running
    assert ws["state"] == "running" and ws["owner"] == "uma" and ws["name"] == "main"
    assert ws["spec"] == {"image": "lab", "profile": "small"}  # defaults filled in
    assert ws["url"] == "/user/uma/main/" and ws["gpus"] == 0 and ws["created"] and ws["started"]
    assert hub.server("uma", "main")["ready"]


def test_jupyterlab_is_served_with_its_jupyter_news_prompt_turned_off(hub, running):
    token, _ = running
    page = hub.get("/user/uma/main/lab", token=token)
    assert page.status_code == 200, page.text[-500:]
    config = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S)
    assert "@jupyterlab/apputils-extension:announcements" in json.loads(config[1])["disabledExtensions"]


def test_a_running_workspace_says_when_the_culler_will_stop_it(hub, running):
    token, _ = running
    ws = hub.ws("GET", "/workspaces/uma/main", token=token).json()
    assert ws["idle_timeout"] == 3600
    cull_at = datetime.fromisoformat(ws["cull_at"].replace("Z", "+00:00"))
    last = datetime.fromisoformat((ws["last_activity"] or ws["started"]).replace("Z", "+00:00"))
    assert cull_at == max(last + timedelta(hours=1), datetime.fromisoformat(ws["started"].replace("Z", "+00:00")) + timedelta(minutes=10))
    assert cull_at > datetime.now(timezone.utc)


def test_the_same_create_again_returns_the_same_workspace(hub, running):
    token, ws = running
    r = hub.ws("POST", "/workspaces", token=token, json={"name": "main", "spec": {"image": "lab"}})
    assert r.status_code == 200
    assert r.json()["created"] == ws["created"]
    assert list(hub.api("GET", "/users/uma").json()["servers"]) == ["main"]


def test_a_create_with_another_spec_under_a_used_name_is_a_conflict(hub, running):
    token, _ = running
    r = hub.ws("POST", "/workspaces", token=token, json={"name": "main", "spec": {"image": "cuda"}})
    assert r.status_code == 409 and error(r)["code"] == "name_in_use"


@pytest.mark.parametrize(
    "body, code, path",
    [
        ({"name": "x", "spec": {"image": "nope"}}, "invalid_spec", "spec.image"),
        ({"name": "x", "spec": {"gpus": "2"}}, "invalid_spec", "spec.gpus"),
        ({"name": "x", "spec": {"image": "team-lab"}}, "invalid_spec", "spec.image"),
        ({"name": "x", "spec": {"custom_image": "registry.example.org/team/x"}}, "invalid_spec", "spec.custom_image"),
        ({"name": "x", "sepc": {}}, "invalid_request", "sepc"),
        ({"name": "../x"}, "invalid_request", "name"),
        ({}, "invalid_request", "name"),
    ],
)
def test_a_bad_create_is_refused_naming_the_field(hub, body, code, path):
    r = hub.ws("POST", "/workspaces", token=hub.user_token("uma"), json=body)
    assert r.status_code == 400
    err = error(r)
    assert err["code"] == code and [f["path"] for f in err["fields"]] == [path]
    assert "x" not in (hub.server("uma", "x") or {}) and hub.server("uma", "x") is None


def test_a_body_that_is_not_json_is_refused(hub):
    r = hub.ws("POST", "/workspaces", token=hub.user_token("uma"), data="{nope")
    assert r.status_code == 400 and error(r)["code"] == "invalid_request"


def test_get_one_workspace(hub, running):
    token, ws = running
    r = hub.ws("GET", "/workspaces/uma/main", token=token)
    assert r.status_code == 200 and r.json()["revision"] == ws["revision"]


def test_someone_elses_workspace_is_not_found(hub, running):
    r = hub.ws("GET", "/workspaces/uma/main", token=hub.user_token("vic"))
    assert r.status_code == 404 and error(r) == {"code": "not_found", "message": "workspace uma/main not found"}


def test_a_missing_workspace_is_not_found(hub, running):
    token, _ = running
    assert hub.ws("GET", "/workspaces/uma/nothing", token=token).status_code == 404


def test_list_shows_a_users_own_workspaces(hub, running):
    token, _ = running
    r = hub.ws("GET", "/workspaces", token=token)
    assert [(w["owner"], w["name"]) for w in r.json()["items"]] == [("uma", "main")]
    assert hub.ws("GET", "/workspaces", token=hub.user_token("vic")).json()["items"] == []


@pytest.mark.parametrize(
    "query, found",
    [("state=running", True), ("state=stopped", False), ("image=lab", True), ("image=cuda", False),
     ("profile=small", True), ("owner=uma", True), ("owner=vic", False)],
)
def test_list_filters(hub, running, query, found):
    items = hub.ws("GET", f"/workspaces?{query}").json()["items"]  # as admin: everyone's
    assert any((w["owner"], w["name"]) == ("uma", "main") for w in items) == found


def test_list_pages_in_a_stable_order(hub, running):
    token = hub.user_token("uma")
    hub.ws("POST", "/workspaces", token=token, json={"name": "second", "spec": {"image": "lab"}})
    try:
        seen, after = [], ""
        while True:
            page = hub.ws("GET", f"/workspaces?owner=uma&limit=1{'&after=' + after if after else ''}", token=token).json()
            seen += [w["name"] for w in page["items"]]
            if not page["next"]:
                break
            after = page["next"]
        assert seen == ["main", "second"]
    finally:
        hub.ws("DELETE", "/workspaces/uma/second", token=token)
        # the hub answers the delete before the record is gone; the paging test counts what exists
        wait_for(lambda: hub.ws("GET", "/workspaces/uma/second", token=token).status_code == 404, 30, "uma/second to go")


def test_paging_one_at_a_time_gives_every_workspace_once(hub, running):
    everything = {(w["owner"], w["name"]) for w in hub.ws("GET", "/workspaces?limit=500").json()["items"]}
    for query in ("", "&state=running", "&state=stopped"):
        seen, after = [], ""
        for _ in range(200):
            page = hub.ws("GET", f"/workspaces?limit=1{query}{'&after=' + after if after else ''}").json()
            seen += [(w["owner"], w["name"]) for w in page["items"]]
            if not page["next"]:
                break
            after = page["next"]
        assert len(seen) == len(set(seen)), f"duplicates with {query!r}"
        if not query:
            assert set(seen) == everything


def test_names_that_would_climb_the_hubs_paths_are_not_found(hub):
    token = hub.user_token("uma")
    assert hub.ws("POST", "/workspaces", token=token, json={"owner": "..", "name": "x"}).status_code == 404
    assert hub.ws("GET", "/workspaces?owner=..", token=token).json()["items"] == []


@pytest.mark.parametrize("query, path", [("state=sleeping", "state"), ("limit=0", "limit"), ("limit=x", "limit"), ("after=%%%", "after")])
def test_bad_list_parameters_are_refused(hub, query, path):
    r = hub.ws("GET", f"/workspaces?{query}", token=hub.user_token("uma"))
    assert r.status_code == 400 and [f["path"] for f in error(r)["fields"]] == [path]


def test_progress_streams_the_hubs_events(hub, running):
    token, _ = running
    r = hub.ws("GET", "/workspaces/uma/main/progress", token=token, stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    assert '"ready": true' in r.text


def test_update_stop_start_delete(hub):
    """The life of a workspace through the API, each step checked."""
    token = hub.user_token("wes")
    ws = hub.ws("POST", "/workspaces", token=token, json={"name": "job", "spec": {"image": "lab"}}).json()
    folder = hub.workspace_folder("wes", "job")

    stale = hub.ws("PATCH", "/workspaces/wes/job", token=token, json={"spec": {"profile": "medium"}, "revision": "0000"})
    assert stale.status_code == 409 and error(stale)["code"] == "stale_revision"
    bad = hub.ws("PATCH", "/workspaces/wes/job", token=token, json={"spec": {"profile": "huge"}, "revision": ws["revision"]})
    assert bad.status_code == 400 and error(bad)["fields"][0]["path"] == "spec.profile"

    updated = hub.ws("PATCH", "/workspaces/wes/job", token=token, json={"spec": {"image": "lab", "profile": "medium"}, "revision": ws["revision"]}).json()
    assert updated["spec"]["profile"] == "medium" and updated["restart_pending"] is True
    assert updated["revision"] != ws["revision"]

    stopped = hub.ws("POST", "/workspaces/wes/job/stop", token=token)
    assert stopped.status_code == 200
    hub.wait_stopped("wes", "job")
    assert hub.ws("GET", "/workspaces/wes/job", token=token).json()["state"] == "stopped"
    assert folder.exists()  # stop keeps storage

    started = hub.ws("POST", "/workspaces/wes/job/start", token=token).json()
    assert started["state"] in ("pending", "running") and started["spec"]["profile"] == "medium"
    hub.wait_ready("wes", "job")
    assert hub.server("wes", "job")["user_options"]["profile"] == "medium"
    assert hub.ws("GET", "/workspaces/wes/job", token=token).json()["restart_pending"] is False

    r = hub.ws("DELETE", "/workspaces/wes/job", token=token)
    assert r.status_code in (202, 204)
    hub.wait_removed("wes", "job")
    assert not folder.exists()
    assert hub.ws("GET", "/workspaces/wes/job", token=token).status_code == 404


def test_start_and_stop_are_idempotent(hub, running):
    token, _ = running
    assert hub.ws("POST", "/workspaces/uma/main/start", token=token).json()["state"] == "running"


# -- admin: the catalog ---------------------------------------------------------------------


IMAGE = {"id": "extra", "display_name": "Extra", "image": "example.org/extra:1", "local": {"python": "default"}}


def test_an_admin_adds_updates_deprecates_and_removes_an_image(hub):
    user = hub.user_token("uma")
    assert hub.ws("POST", "/images", json=IMAGE).status_code == 201
    try:
        assert "extra" in [i["id"] for i in hub.ws("GET", "/images", token=user).json()["items"]]
        assert hub.ws("POST", "/images", json=IMAGE).status_code == 409
        r = hub.ws("PUT", "/images/extra", json={**IMAGE, "display_name": "Extra 2"})
        assert r.status_code == 200 and r.json()["display_name"] == "Extra 2"
        r = hub.ws("POST", "/images/extra/deprecate", json={"message": "Use lab."})
        assert r.json()["deprecated"] == "Use lab."
        assert hub.ws("GET", "/images/extra", token=user).json()["deprecated"] == "Use lab."
    finally:
        assert hub.ws("DELETE", "/images/extra").status_code == 204
    assert hub.ws("GET", "/images/extra", token=user).status_code == 404


def test_a_deprecation_names_its_successor_and_keeps_it_through_a_new_message(hub):
    assert hub.ws("POST", "/images", json=IMAGE).status_code == 201
    try:
        r = hub.ws("POST", "/images/extra/deprecate", json={"message": "Use lab.", "use": "lab"})
        assert (r.status_code, r.json()["deprecated"], r.json()["successor"]) == (200, "Use lab.", "lab")
        r = hub.ws("POST", "/images/extra/deprecate", json={"message": "Really, use lab."})
        assert (r.json()["deprecated"], r.json()["successor"]) == ("Really, use lab.", "lab")
        r = hub.ws("POST", "/images/extra/deprecate", json={"message": "Use itself.", "use": "extra"})
        assert r.status_code == 400 and "names the entry itself" in r.json()["error"]["message"]
    finally:
        assert hub.ws("DELETE", "/images/extra").status_code == 204


def test_an_image_edit_takes_effect_in_the_hub_without_a_restart(hub):
    assert hub.ws("POST", "/images", json=IMAGE).status_code == 201
    try:
        assert 'value="extra"' in hub.spawn_form("uma", "formcheck")
    finally:
        hub.ws("DELETE", "/images/extra")


@pytest.mark.parametrize(
    "entry, path",
    [({**IMAGE, "kind": "emacs"}, "kind"), ({**IMAGE, "id": "Bad Id"}, "id"), ({"id": "x"}, "display_name")],
)
def test_a_bad_image_entry_is_refused_naming_the_field(hub, entry, path):
    r = hub.ws("POST", "/images", json=entry)
    assert r.status_code == 400 and path in [f["path"] for f in error(r)["fields"]]


def test_a_second_default_image_is_refused(hub):
    r = hub.ws("POST", "/images", json={**IMAGE, "default": True})
    assert r.status_code == 400 and "only one entry may be the default" in error(r)["message"]


def test_users_may_not_change_the_catalog(hub):
    r = hub.ws("POST", "/images", token=hub.user_token("uma"), json=IMAGE)
    assert r.status_code == 403 and error(r)["code"] == "forbidden"


def test_an_unknown_path_is_a_json_404(hub):
    r = hub.ws("GET", "/nothing", token=hub.user_token("uma"))
    assert r.status_code == 404 and error(r)["code"] == "not_found"


def test_a_browser_logs_in_through_the_hubs_oauth(hub):
    session = hub.login("bea")
    r = session.get(f"{hub.url}/services/workspaces/api/v1/workspaces", headers={"Accept": "text/html"}, timeout=30)
    assert r.status_code == 200 and r.json() == {"items": [], "next": None}
    assert any(c.name == "service-workspaces" for c in session.cookies)


def test_a_browser_change_needs_the_xsrf_header(hub):
    session = hub.login("bea")
    session.get(f"{hub.url}/services/workspaces/api/v1/images", headers={"Accept": "text/html"}, timeout=30)
    body = {"name": "x", "spec": {"image": "nope"}}
    r = session.post(f"{hub.url}/services/workspaces/api/v1/workspaces", json=body, timeout=30)
    assert r.status_code == 401 and "X-XSRFToken" in error(r)["message"]
    [xsrf] = [c.value for c in session.cookies if c.name == "_xsrf" and c.path == "/services/workspaces/"]
    r = session.post(f"{hub.url}/services/workspaces/api/v1/workspaces", json=body, headers={"X-XSRFToken": xsrf}, timeout=30)
    assert r.status_code == 400 and error(r)["code"] == "invalid_spec"  # authenticated: judged on its spec


def test_the_openapi_document_is_served(hub):
    r = hub.ws("GET", "/openapi.json", token="")
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.1")


# -- a hub of its own: persistence and bursts ---------------------------------------------------


READER_TOKEN = "reader-token-0123456789abcdef0123"


@pytest.fixture(scope="module")
def own_hub(tmp_path_factory):
    extra = f"""
c.JupyterHub.concurrent_spawn_limit = 1
# a server that never answers fails its start in seconds, not half a minute
c.Spawner.http_timeout = 5
# a program that may read everyone's servers, and use the API, but start nothing
c.JupyterHub.services.append({{"name": "reader", "api_token": {READER_TOKEN!r}}})
c.JupyterHub.load_roles.append({{"name": "reader", "services": ["reader"],
    "scopes": ["list:users", "read:users", "read:servers", "access:services!service=workspaces"]}})
"""
    h = Hub(tmp_path_factory.mktemp("api-hub"), extra_config=extra)
    try:
        yield h.start()
    finally:
        h.shutdown()


def test_catalog_edits_survive_a_hub_restart(own_hub):
    assert own_hub.ws("POST", "/images", json=IMAGE).status_code == 201
    own_hub.stop(signal.SIGTERM)
    own_hub.start()
    assert "extra" in [i["id"] for i in own_hub.ws("GET", "/images").json()["items"]]
    assert (own_hub.data_dir / "catalog-edits.yaml").exists()


def test_more_starts_than_the_hub_allows_get_429_with_retry_after(own_hub):
    tokens = [own_hub.user_token(f"burst{i}") for i in range(2)]
    answers: list = [None, None]

    def create(i: int) -> None:
        answers[i] = own_hub.ws("POST", "/workspaces", token=tokens[i], json={"name": "w", "spec": {"image": "lab"}})

    threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 429], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 429)
    assert error(refused)["code"] == "too_many_starts" and int(refused.headers["Retry-After"]) > 0
    # the same create again, once the other start is done, starts the refused one
    i = answers.index(refused)
    retry = own_hub.ws("POST", "/workspaces", token=tokens[i], json={"name": "w", "spec": {"image": "lab"}})
    assert retry.status_code == 200 and retry.json()["state"] in ("pending", "running"), retry.text
    own_hub.wait_ready(f"burst{i}", "w")


def test_reading_a_workspace_does_not_allow_changing_its_spec(own_hub):
    ws = own_hub.ws("GET", "/workspaces/burst0/w", token=READER_TOKEN)
    assert ws.status_code == 200, ws.text
    body = {"spec": {"image": "lab", "profile": "medium"}, "revision": ws.json()["revision"]}
    r = own_hub.ws("PATCH", "/workspaces/burst0/w", token=READER_TOKEN, json=body)
    assert r.status_code == 403 and error(r)["code"] == "forbidden"
    after = own_hub.ws("GET", "/workspaces/burst0/w", token=READER_TOKEN).json()
    assert after["revision"] == ws.json()["revision"] and after["restart_pending"] is False


def test_a_failed_start_shows_as_failed_with_its_reason(own_hub):
    broken = {"id": "broken", "display_name": "Broken", "image": "x/broken:1", "local": {"command": ["false"]}}
    assert own_hub.ws("POST", "/images", json=broken).status_code == 201
    token = own_hub.user_token("xan")
    try:
        r = own_hub.ws("POST", "/workspaces", token=token, json={"name": "b", "spec": {"image": "broken"}})
        assert r.status_code == 201, r.text

        def failed() -> dict | None:
            ws = own_hub.ws("GET", "/workspaces/xan/b", token=token).json()
            return ws if ws["state"] == "failed" else None

        ws = wait_for(failed, 60, "the start to fail")
        assert ws["failure_reason"]
    finally:
        own_hub.ws("DELETE", "/workspaces/xan/b", token=token)
        own_hub.ws("DELETE", "/images/broken")
