"""First login and the data directory of the embedded default."""

from __future__ import annotations

import stat

import pytest

from ..support.hub import Hub, listening_addresses, wait_for

pytestmark = pytest.mark.hub


def test_admin_logs_in_with_the_generated_password(hub: Hub):
    session = hub.login("admin")
    assert session.login_status == 302
    assert session.get(f"{hub.url}/hub/api/user", timeout=30).json()["admin"] is True


def test_a_wrong_password_is_refused(hub: Hub):
    assert hub.login("admin", password="x" * 40).login_status == 403
    assert hub.login("alice", password="not-the-user-password").login_status == 403


def test_users_an_admin_added_log_in_with_the_user_password(hub: Hub):
    session = hub.login("grace")
    assert session.login_status == 302
    assert session.get(f"{hub.url}/hub/api/user", timeout=30).json()["admin"] is False


def test_strangers_cannot_register_with_the_user_password(hub: Hub):
    assert hub.login("stranger", password=hub.password("alice"), create=False).login_status == 403
    assert hub.api("GET", "/users/stranger").status_code == 404


def test_the_user_password_does_not_make_anyone_admin(hub: Hub):
    assert hub.login("admin", password=hub.password("alice")).login_status == 403


def test_banner_prints_url_and_password(hub: Hub):
    log = hub.log()
    assert f"Workspaces is starting at http://127.0.0.1:{hub.port}/" in log
    assert hub.password("admin") in log


def test_data_dir_holds_database_secrets_and_workspaces(hub: Hub):
    names = {p.name for p in hub.data_dir.iterdir()}
    assert {"jupyterhub.sqlite", "jupyterhub_cookie_secret", "admin-password", "user-password", "workspaces"} <= names
    for secret in ("admin-password", "user-password", "jupyterhub_cookie_secret"):
        assert stat.S_IMODE((hub.data_dir / secret).stat().st_mode) == 0o600
    assert len(hub.password("admin")) >= 32


def test_nothing_listens_beyond_loopback(hub: Hub):
    ports = {"proxy": hub.port, "hub": hub.hub_port, "proxy api": hub.proxy_api_port, "culler": hub.culler_port}
    wait_for(lambda: listening_addresses(hub.culler_port), 20, "the culler to listen")
    for what, port in ports.items():
        assert listening_addresses(port) == {"127.0.0.1"}, what
