"""First logins and the data directory of the embedded default (auth.type native), and the
workshop mode (auth.type shared-password)."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import pytest

from ..support.hub import Hub, listening_addresses, wait_for

pytestmark = pytest.mark.hub


def test_admin_logs_in_with_the_generated_password(hub: Hub):
    session = hub.login("admin")
    assert session.login_status == 302
    assert session.get(f"{hub.url}/hub/api/user", timeout=30).json()["admin"] is True


def test_a_wrong_password_is_refused(hub: Hub):
    assert hub.login("admin", password="x" * 40).login_status == 403
    assert hub.login("dora", password="not-doras-password").login_status == 403


def test_a_person_signs_up_and_logs_in_once_an_admin_approved(hub: Hub):
    assert "sent to the admin" in hub.sign_up("grace").text
    assert hub.login("grace", create=False).login_status == 403
    hub.approve("grace")
    session = hub.login("grace", create=False)
    assert session.login_status == 302
    me = session.get(f"{hub.url}/hub/api/user", timeout=30).json()
    assert (me["name"], me["admin"]) == ("grace", False)


def test_a_short_password_is_refused_at_sign_up(hub: Hub):
    r = hub.sign_up("shorty", password="2short")
    assert "at least 10 characters" in r.text
    assert hub.login("shorty", password="2short", create=False).login_status == 403


def test_a_password_longer_than_bcrypt_reads_is_refused_not_a_server_error(hub: Hub):
    assert "at least 10 characters" in hub.sign_up("lengthy", password="p" * 73).text
    assert hub.login("admin", password="p" * 200, create=False).login_status == 403


def test_a_person_changes_their_password(hub: Hub):
    session = hub.login("hal")
    r = session.post(f"{hub.url}/hub/change-password", timeout=30, data={
        "old_password": hub.password("hal"), "new_password": "a-new-long-password",
        "new_password_confirmation": "a-new-long-password", "_xsrf": session.cookies.get("_xsrf", path="/hub/")})
    assert "changed successfully" in r.text
    assert hub.login("hal", password="a-new-long-password", create=False).login_status == 302
    assert hub.login("hal", password=hub.password("hal"), create=False).login_status == 403


def test_banner_prints_url_password_and_how_others_get_in(hub: Hub):
    log = hub.log()
    assert f"Workspaces is starting at http://127.0.0.1:{hub.port}/" in log
    assert hub.password("admin") in log
    assert f"sign up at http://127.0.0.1:{hub.port}/hub/signup" in log


def test_data_dir_holds_database_secrets_and_workspaces(hub: Hub):
    names = {p.name for p in hub.data_dir.iterdir()}
    assert {"jupyterhub.sqlite", "jupyterhub_cookie_secret", "admin-password", "workspaces"} <= names
    assert "user-password" not in names  # no shared password unless auth.type shared-password
    for secret in ("admin-password", "jupyterhub_cookie_secret"):
        assert stat.S_IMODE((hub.data_dir / secret).stat().st_mode) == 0o600
    assert len(hub.password("admin")) >= 32


@pytest.fixture(scope="module")
def workshop_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """auth.type shared-password: one password for every user an admin added."""
    h = Hub(tmp_path_factory.mktemp("workshop"), settings={"auth": {"type": "shared-password"}})
    try:
        yield h.start()
    finally:
        h.shutdown()


def test_workshop_mode_users_an_admin_added_log_in_with_the_user_password(workshop_hub: Hub):
    session = workshop_hub.login("grace")
    assert session.login_status == 302
    assert session.get(f"{workshop_hub.url}/hub/api/user", timeout=30).json()["admin"] is False
    assert stat.S_IMODE((workshop_hub.data_dir / "user-password").stat().st_mode) == 0o600


def test_workshop_mode_strangers_cannot_register_with_the_user_password(workshop_hub: Hub):
    r = workshop_hub.login("stranger", password=workshop_hub.password("alice"), create=False)
    assert r.login_status == 403
    assert workshop_hub.api("GET", "/users/stranger").status_code == 404


def test_workshop_mode_the_user_password_does_not_make_anyone_admin(workshop_hub: Hub):
    assert workshop_hub.login("admin", password=workshop_hub.password("alice")).login_status == 403


def test_nothing_listens_beyond_loopback(hub: Hub):
    ports = {"proxy": hub.port, "hub": hub.hub_port, "proxy api": hub.proxy_api_port, "culler": hub.culler_port}
    wait_for(lambda: listening_addresses(hub.culler_port), 20, "the culler to listen")
    for what, port in ports.items():
        assert listening_addresses(port) == {"127.0.0.1"}, what
