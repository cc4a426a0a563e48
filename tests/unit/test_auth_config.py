"""auth in workspaces.yaml: what each type accepts, and what the hub's config makes of it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workspaces.cli import _banner
from workspaces.config import load_config
from workspaces.launch import prepare
from workspaces.oidc import OidcError, discover

from .test_config import issues_of, write
from .test_hub_config import hub_config

OIDC = "auth:\n  type: oidc\n  admin_users: [alice]\n  oidc:\n    client_id: hub\n"


def test_a_password_per_person_is_the_default():
    assert load_config(None).settings.auth.type == "native"


def test_the_shared_user_password_is_only_for_the_workshop_mode(tmp_path):
    [issue] = issues_of(write(tmp_path, "auth:\n  user_password: 0123456789\n"))
    assert issue == "auth: auth.user_password is only for auth.type shared-password; with native each person has their own"


def test_the_workshop_mode_is_accepted_on_the_local_backend(tmp_path):
    text = "auth:\n  type: shared-password\n  user_password: 0123456789\n"
    assert load_config(write(tmp_path, text)).settings.auth.user_password == "0123456789"


def test_lockout_and_password_length_are_settings_of_native(tmp_path):
    text = "auth:\n  native:\n    minimum_password_length: 12\n    lockout_after: 3\n    lockout_for: 15m\n"
    native = load_config(write(tmp_path, text)).settings.auth.native_settings
    assert (native.minimum_password_length, native.lockout_after, native.lockout_for) == (12, 3, 900)


def test_passwords_shorter_than_eight_are_not_a_choice(tmp_path):
    [issue] = issues_of(write(tmp_path, "auth:\n  native:\n    minimum_password_length: 4\n"))
    assert issue.startswith("auth.native.minimum_password_length: ")


def test_native_settings_with_another_type_are_refused(tmp_path):
    [issue] = issues_of(write(tmp_path, "auth:\n  type: shared-password\n  native: {}\n"))
    assert issue == "auth: auth.native is for auth.type native, not shared-password"


def test_oidc_needs_to_know_who_may_log_in(tmp_path):
    [issue] = issues_of(write(tmp_path, OIDC + "    issuer: https://id.example.org\n"))
    assert issue == "auth.oidc: auth.oidc needs allowed_users, allowed_groups, or allow_all: true (everyone the provider knows)"


def test_oidc_needs_the_admins_named_explicitly(tmp_path):
    text = "auth:\n  type: oidc\n  oidc:\n    issuer: https://id.example.org\n    client_id: hub\n    allow_all: true\n"
    [issue] = issues_of(write(tmp_path, text))
    assert issue == "auth: auth.type oidc needs auth.admin_users: the admins' names at the provider"


def test_the_issuer_is_https_except_on_loopback(tmp_path):
    [issue] = issues_of(write(tmp_path, OIDC + "    issuer: http://id.example.org\n    allow_all: true\n"))
    assert issue == "auth.oidc: auth.oidc.issuer must be an https:// URL (http:// only on loopback), not 'http://id.example.org'"
    loopback = OIDC + "    issuer: http://127.0.0.1:9000\n    allow_all: true\n"
    assert load_config(write(tmp_path, loopback)).settings.auth.oidc.issuer == "http://127.0.0.1:9000"


def test_the_client_secret_is_never_in_the_file(tmp_path):
    text = OIDC + "    issuer: https://id.example.org\n    allow_all: true\n    client_secret: hunter2\n"
    [issue] = issues_of(write(tmp_path, text))
    assert issue.startswith("auth.oidc.client_secret: unknown key; allowed keys: issuer, client_id, client_secret_env,")


def test_the_hub_locks_accounts_and_measures_passwords_as_configured(tmp_path, monkeypatch):
    config = hub_config(tmp_path, monkeypatch, {"auth": {"native": {"lockout_after": 3, "lockout_for": "2m"}}})
    native = config.WorkspacesNativeAuthenticator
    assert (native.allowed_failed_logins, native.seconds_before_next_try) == (3, 120)
    assert (native.minimum_password_length, native.check_common_password, native.open_signup) == (10, True, False)
    assert native.first_admin_password == (tmp_path / "data" / "admin-password").read_text().strip()
    assert not (tmp_path / "data" / "user-password").exists()


class _Provider(BaseHTTPRequestHandler):
    document: dict = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps(self.document).encode()
        self.send_response(200 if self.path == "/.well-known/openid-configuration" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def discovery() -> Iterator[tuple[str, dict]]:
    """A discovery document served on loopback (the provider itself is tested in tests/browser/test_oidc.py)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    issuer = f"http://127.0.0.1:{server.server_port}"
    _Provider.document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/me",
    }
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield issuer, _Provider.document
    finally:
        server.shutdown()
        server.server_close()


def oidc_settings(issuer: str) -> dict:
    return {"auth": {"type": "oidc", "admin_users": ["alice"], "oidc": {
        "issuer": issuer, "client_id": "hub", "allowed_groups": ["analysts"], "admin_groups": ["ops"]}}}


def test_the_hub_asks_the_provider_for_its_endpoints(tmp_path, monkeypatch, discovery):
    issuer, _ = discovery
    monkeypatch.setenv("WORKSPACES_OIDC_CLIENT_SECRET", "s3cret")
    generic = hub_config(tmp_path, monkeypatch, oidc_settings(issuer)).GenericOAuthenticator
    assert (generic.authorize_url, generic.token_url, generic.userdata_url) == (
        f"{issuer}/auth", f"{issuer}/token", f"{issuer}/me")
    assert (generic.client_id, generic.client_secret) == ("hub", "s3cret")
    assert generic.oauth_callback_url == "http://127.0.0.1:8000/hub/oauth_callback"
    assert (generic.allowed_groups, generic.admin_groups, generic.admin_users) == ({"analysts"}, {"ops"}, {"alice"})
    assert generic.auth_state_groups_key == "oauth_user.groups"


def test_without_its_client_secret_the_hub_stops_with_one_line(tmp_path, monkeypatch, capsys, discovery):
    issuer, _ = discovery
    monkeypatch.delenv("WORKSPACES_OIDC_CLIENT_SECRET", raising=False)
    with pytest.raises(SystemExit):
        hub_config(tmp_path, monkeypatch, oidc_settings(issuer))
    assert capsys.readouterr().err == (
        "workspaces: error: auth.oidc.client_secret_env: $WORKSPACES_OIDC_CLIENT_SECRET is not set; "
        "it must hold the OIDC client secret\n"
    )


def test_a_discovery_document_of_another_issuer_is_refused(discovery):
    issuer, document = discovery
    document["issuer"] = "https://elsewhere.example.org"
    with pytest.raises(OidcError, match="names the issuer 'https://elsewhere.example.org', not "):
        discover(issuer)


def test_an_unreachable_issuer_is_one_line():
    with pytest.raises(OidcError) as info:
        discover("http://127.0.0.1:1", timeout=5)
    assert str(info.value).startswith("auth.oidc.issuer: cannot read http://127.0.0.1:1/.well-known/openid-configuration: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("auth", "says"), [
    ("{}", "sign up at http://127.0.0.1:8000/hub/signup"),
    ("{type: shared-password}", "user password in "),
    ("{type: oidc, admin_users: [alice], oidc: {issuer: 'https://id.example.org', client_id: c, allow_all: true}}",
     "Log in at    https://id.example.org (OpenID Connect); admins: alice"),
])
def test_the_banner_says_how_people_get_in(tmp_path, auth, says):
    launch = prepare(write(tmp_path, f"auth: {auth}\n"), tmp_path / "data")
    assert says in _banner(launch)
