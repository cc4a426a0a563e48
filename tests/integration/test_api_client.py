"""The Python client (workspaces.client) against the real service of a real hub.

Workspaces are real JupyterLab processes: this module starts four servers in all
(two shared workspaces, one restart, one to delete) and deletes what it made.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from workspaces.client import APIError, Client, ProgressEvent, Workspace

from ..support.cleanup import delete_workspace
from ..support.hub import Hub, wait_for

pytestmark = pytest.mark.hub

USER = "api-client-user"
OTHER = "api-client-other"
SPEC = {"image": "lab", "profile": "small"}


@pytest.fixture(scope="module")
def client(hub: Hub) -> Iterator[Client]:
    with Client(hub.url, hub.user_token(USER)) as c:
        yield c


@pytest.fixture(scope="module")
def admin(hub: Hub) -> Iterator[Client]:
    with Client(hub.url, hub.admin_token) as c:
        yield c


@dataclass
class Created:
    first: Workspace
    again: Workspace
    ready: Workspace
    events: list[ProgressEvent]


@pytest.fixture(scope="module")
def one(client: Client) -> Iterator[Created]:
    """A running workspace, created twice with the same request and waited for."""
    first = client.create_workspace("one", **SPEC)
    try:
        again = client.create_workspace("one", **SPEC)
        events: list[ProgressEvent] = []
        ready = client.wait_ready(USER, "one", on_event=events.append, timeout=90)
        yield Created(first, again, ready, events)
    finally:
        delete_workspace(client, USER, "one")


@pytest.fixture(scope="module")
def two(client: Client) -> Iterator[Workspace]:
    """A second workspace of the same user, for paging, stop and start."""
    client.create_workspace("two", **SPEC)
    try:
        yield client.wait_ready(USER, "two", timeout=90)
    finally:
        delete_workspace(client, USER, "two")


def wait_state(client: Client, name: str, state: str, timeout: float = 30) -> Workspace:
    return wait_for(
        lambda: (ws := client.get_workspace(USER, name)).state == state and ws, timeout, f"{USER}/{name} to be {state}"
    )


# -- workspaces ---------------------------------------------------------------------


def test_create_answers_201_with_the_new_workspace(one):
    assert one.first.newly_created
    assert (one.first.owner, one.first.name) == (USER, "one")
    assert one.first.state in ("pending", "running")
    assert (one.first.spec.image, one.first.spec.profile) == ("lab", "small")


def test_the_same_create_again_answers_200_with_the_same_workspace(client, one):
    assert not one.again.newly_created
    assert (one.again.owner, one.again.name, one.again.revision) == (USER, "one", one.first.revision)
    assert [w.name for w in client.list_workspaces(owner=USER)].count("one") == 1


def test_wait_ready_follows_the_progress_stream_to_ready(one):
    assert one.ready.state == "running"
    if one.events:  # a start faster than the stream's opening shows no events
        assert one.events[-1].ready
        percents = [e.progress for e in one.events if e.progress is not None]
        assert percents == sorted(percents)


def test_get_returns_the_running_workspace_with_its_url(hub, client, one):
    ws = client.get_workspace(USER, "one")
    assert ws.state == "running" and ws.url == f"/user/{USER}/one/"
    assert ws.started is not None and ws.created is not None
    assert client.workspace_url(ws) == f"{hub.url}/user/{USER}/one/"
    r = hub.get(f"/user/{USER}/one/api/status", token=hub.user_token(USER))
    assert r.status_code == 200


def test_list_filters_by_owner_state_image_and_profile(client, one):
    names = lambda **f: [(w.owner, w.name) for w in client.list_workspaces(**f)]  # noqa: E731
    assert (USER, "one") in names(owner=USER, state="running", image="lab", profile="small")
    assert (USER, "one") not in names(owner=USER, state="stopped")
    assert (USER, "one") not in names(owner=USER, profile="medium")
    assert names(owner=USER + "-nobody") == []


def test_list_with_limit_1_follows_the_next_cursor(client, one, two):
    page = client.list_workspaces_page(owner=USER, limit=1)
    assert len(page.items) == 1 and page.next is not None
    assert [w.name for w in client.list_workspaces(owner=USER, limit=1)] == ["one", "two"]


def test_another_users_workspace_is_not_found(hub, one):
    with Client(hub.url, hub.user_token(OTHER)) as other:
        with pytest.raises(APIError) as caught:
            other.get_workspace(USER, "one")
    assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_update_with_a_stale_revision_is_refused(client, one):
    with pytest.raises(APIError) as caught:
        client.update_workspace(USER, "one", {"image": "lab", "profile": "medium"}, revision="stale")
    assert (caught.value.status, caught.value.code) == (409, "stale_revision")
    assert client.get_workspace(USER, "one").spec.profile == "small"


def test_update_with_the_current_revision_is_pending_until_a_restart(client, one):
    current = client.get_workspace(USER, "one")
    updated = client.update_workspace(USER, "one", {"image": "lab", "profile": "medium"}, current.revision)
    try:
        assert updated.restart_pending
    finally:  # back to the spec the other tests expect
        latest = client.get_workspace(USER, "one")
        client.update_workspace(USER, "one", SPEC, latest.revision)


def test_stop_stops_the_server_and_keeps_the_workspace(client, two):
    stopped = client.stop_workspace(USER, "two")
    assert stopped.state in ("stopping", "stopped")
    assert wait_state(client, "two", "stopped").spec.image == "lab"


def test_a_stopped_workspace_starts_again(client, two):
    if client.get_workspace(USER, "two").state != "stopped":
        client.stop_workspace(USER, "two")
        wait_state(client, "two", "stopped")
    started = client.start_workspace(USER, "two")
    assert started.state in ("pending", "running")
    assert client.wait_ready(USER, "two", timeout=90).state == "running"


def test_delete_removes_the_workspace(client):
    name = f"doomed-{uuid.uuid4().hex[:6]}"
    client.create_workspace(name, **SPEC)
    try:
        client.wait_ready(USER, name, timeout=90)
        deletion = client.delete_workspace(USER, name)
        assert deletion.state in ("deleted", "deleting")
        client.wait_deleted(USER, name, timeout=60)
        assert name not in [w.name for w in client.list_workspaces(owner=USER)]
    finally:
        delete_workspace(client, USER, name)


def test_a_bad_spec_raises_an_api_error_with_code_and_fields(client):
    with pytest.raises(APIError) as caught:
        client.create_workspace("bad", image="no-such-image", profile="small")
    e = caught.value
    assert (e.status, e.code) == (400, "invalid_spec")
    [field] = e.fields
    assert field.path == "spec.image"
    assert "unknown image 'no-such-image'" in field.message and "lab" in field.message
    assert "bad" not in [w.name for w in client.list_workspaces(owner=USER)]


def test_a_bad_token_raises_unauthorized(hub):
    with Client(hub.url, "not-a-token") as bad:
        with pytest.raises(APIError) as caught:
            bad.list_images()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")


# -- catalog ---------------------------------------------------------------------------


def test_a_user_lists_the_images_offered_to_them(client):
    images = {i.id: i for i in client.list_images()}
    assert images["lab"].default and images["lab"].available
    assert images["old-lab"].deprecated == "Use Test Lab instead."
    assert "team-lab" not in images  # only for the team group
    assert images["lab"].groups is None  # rules are for admins


def test_an_admin_adds_deprecates_and_removes_an_image(client, admin):
    image_id = f"api-test-{uuid.uuid4().hex[:6]}"
    entry = {"id": image_id, "display_name": "API test", "image": "example.org/api-test:1", "local": {"python": "default"}}
    added = admin.add_image(entry)
    try:
        assert (added.id, added.display_name, added.deprecated) == (image_id, "API test", None)
        assert image_id in [i.id for i in client.list_images()]
        deprecated = admin.deprecate_image(image_id, "Use lab instead.")
        assert deprecated.deprecated == "Use lab instead."
        assert client.get_image(image_id).deprecated == "Use lab instead."
    finally:
        admin.remove_image(image_id)
    with pytest.raises(APIError) as caught:
        admin.get_image(image_id)
    assert caught.value.code == "not_found"


def test_an_admin_replaces_an_image_entry(admin):
    image_id = f"api-test-{uuid.uuid4().hex[:6]}"
    admin.add_image({"id": image_id, "display_name": "Before", "image": "example.org/api-test:1"})
    try:
        updated = admin.update_image(image_id, {"display_name": "After", "image": "example.org/api-test:2", "gpu": True})
        assert (updated.display_name, updated.image, updated.gpu) == ("After", "example.org/api-test:2", True)
        assert admin.get_image(image_id).display_name == "After"
    finally:
        admin.remove_image(image_id)


def test_a_user_may_not_change_the_catalog(client):
    with pytest.raises(APIError) as caught:
        client.add_image({"id": "mine", "display_name": "Mine", "image": "example.org/mine:1"})
    assert (caught.value.status, caught.value.code) == (403, "forbidden")


def test_profiles_and_namespaces_as_a_user(client):
    profiles = {p.id: p for p in client.list_profiles()}
    assert profiles["small"].default and profiles["small"].cpu.limit == 1
    assert "big" not in profiles  # only for big-users
    namespaces = client.list_namespaces()
    assert (namespaces.backend, namespaces.items) == ("local", [])


def test_the_progress_of_a_running_workspace_is_one_ready_event(client, one):
    [event] = list(client.progress(USER, "one"))
    assert event.ready and event.progress == 100
    assert event.url == f"/user/{USER}/one/"


def test_a_share_with_a_user_is_listed_seen_by_them_and_revoked(hub, client, one):
    other_token = hub.user_token(OTHER)
    share = client.share(USER, "one", user=OTHER)
    assert (share.kind, share.name) == ("user", OTHER)
    assert [(s.kind, s.name) for s in client.shares(USER, "one").shares] == [("user", OTHER)]
    with Client(hub.url, other_token) as other:
        [shared] = other.shared_with_me()
        assert (shared.owner, shared.name, shared.ready) == (USER, "one", True)
        assert [(v.kind, v.name) for v in shared.via] == [("user", OTHER)]
        client.unshare(USER, "one", user=OTHER)
        assert other.shared_with_me() == []
    assert client.shares(USER, "one").shares == []


def test_a_share_code_is_given_once_with_an_absolute_link_then_listed_by_id_only(hub, client, one):
    code = client.share_code(USER, "one", expires_in=3600)
    try:
        assert code.code and code.accept_url == f"{hub.url}/hub/accept-share?code={code.code}"
        [listed] = client.shares(USER, "one").codes
        assert listed.id == code.id and listed.code is None and listed.accept_url is None
        assert listed.expires == code.expires
    finally:
        client.unshare(USER, "one", code=code.id)
    assert client.shares(USER, "one").codes == []


def test_sharing_with_an_unknown_user_raises_an_api_error_naming_the_field(client, one):
    with pytest.raises(APIError) as e:
        client.share(USER, "one", user="nobody-of-that-name")
    assert e.value.status == 400 and [f.path for f in e.value.fields] == ["user"]
    assert "no user named 'nobody-of-that-name'" in str(e.value)


def test_a_share_code_expiring_in_under_a_minute_is_refused_with_the_bounds(client, one):
    with pytest.raises(APIError) as e:
        client.share_code(USER, "one", expires_in=10)
    assert e.value.status == 400 and [f.path for f in e.value.fields] == ["code.expires_in"]
    assert "from 60 (a minute) to 31536000 (a year)" in str(e.value)
