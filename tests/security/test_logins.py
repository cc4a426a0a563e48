"""Logging in as somebody else: with their password, before approval, by guessing, by claiming an
admin's name, and with the one shared password on Kubernetes. The hub is the default one
(auth.type native: a password per person)."""

from __future__ import annotations

import subprocess

import pytest
import requests

from workspaces.config import load_config
from workspaces.errors import ConfigError

from ..support.hub import WORKSPACES, Hub

pytestmark = pytest.mark.hub


def logged_in_as(hub: Hub, session: requests.Session) -> str | None:
    r = session.get(f"{hub.url}/hub/api/user", timeout=30)
    return r.json()["name"] if r.status_code == 200 else None


def test_alices_password_does_not_open_bobs_account(hub: Hub):
    hub.add_person("alice")
    hub.add_person("bob")
    session = hub.login("bob", password=hub.password("alice"), create=False)
    assert session.login_status == 403
    assert logged_in_as(hub, session) is None


def test_an_unapproved_sign_up_cannot_log_in(hub: Hub):
    hub.sign_up("mallory")
    waiting = hub.admin_session().get(f"{hub.url}/hub/authorize", timeout=30).text
    assert "mallory" in waiting  # the sign-up happened; it awaits approval
    session = hub.login("mallory", create=False)
    assert session.login_status == 403
    assert logged_in_as(hub, session) is None


def test_repeated_wrong_passwords_lock_the_account(hub: Hub):
    hub.add_person("carol")
    for attempt in range(5):  # auth.native.lockout_after
        assert hub.login("carol", password=f"guess-number-{attempt}", create=False).login_status == 403
    session = hub.login("carol", create=False)  # the right password, too late
    assert session.login_status == 403
    assert logged_in_as(hub, session) is None


def test_nobody_claims_an_admin_name_by_signing_up_first(hub: Hub):
    hub.sign_up("admin", password="the-squatters-password")
    session = hub.login("admin", password="the-squatters-password", create=False)
    assert session.login_status == 403
    assert logged_in_as(hub, session) is None


def test_kubernetes_refuses_the_shared_password(tmp_path):
    path = tmp_path / "workspaces.yaml"
    path.write_text("backend: kubernetes\nauth:\n  type: shared-password\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [str(i) for i in info.value.issues] == [
        "auth.type shared-password is refused with backend kubernetes (anyone with the one password "
        "could log in as anyone); use auth.type native (a password per person) or oidc"
    ]
    check = subprocess.run([str(WORKSPACES), "config", "check", str(path)], capture_output=True, text=True)
    assert check.returncode == 1 and len(check.stderr.splitlines()) == 1


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_page_elsewhere_cannot_make_an_admins_browser_approve_an_account(hub: Hub, site: str):
    name = f"eve-{site}"
    hub.sign_up(name)
    # what a browser sends for a link or redirect on another site (or a user's own subdomain)
    r = hub.admin_session().get(f"{hub.url}/hub/authorize/{name}", headers={"Sec-Fetch-Site": site},
                                timeout=30, allow_redirects=False)
    assert r.status_code == 403
    session = hub.login(name, create=False)
    assert session.login_status == 403 and logged_in_as(hub, session) is None
