"""auth.type oidc in a real Chromium: the hub sends people to a real OpenID provider on loopback,
they log in on its pages, and come back logged in to the hub, if the hub allows them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from ..support.hub import Hub
from ..support.oidc_provider import OidcProvider

pytestmark = [pytest.mark.hub, pytest.mark.browser]


@pytest.fixture(scope="module")
def oidc_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub whose logins go to the provider; the group analysts may log in."""
    provider = OidcProvider()
    hub = Hub(tmp_path_factory.mktemp("oidc"), settings={"auth": {
        "type": "oidc",
        "admin_users": ["olga"],  # nobody the provider knows: alice gets in as an analyst, not as an admin
        "oidc": {
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "scopes": ["openid", "profile", "groups"],
            "allowed_groups": ["analysts"],
        },
    }}, env={"WORKSPACES_OIDC_CLIENT_SECRET": provider.client_secret})
    try:
        provider.start(redirect_uri=f"{hub.url}/hub/oauth_callback")
        yield hub.start()
    finally:
        hub.shutdown()
        provider.stop()


def log_in_at_the_provider(page: Page, hub: Hub, account: str) -> None:
    # the provider's pages load a web font; nothing beyond loopback is reachable here
    page.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    page.goto(f"{hub.url}/hub/login")
    page.get_by_text("Sign in with 127.0.0.1").click()
    page.locator('input[name="login"]').fill(account)
    page.locator('input[name="password"]').fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # consent to the hub's scopes


def test_alice_logs_in_through_the_provider_and_lands_on_the_dashboard_as_alice(oidc_hub: Hub, page: Page, artifacts):
    log_in_at_the_provider(page, oidc_hub, "alice")
    page.wait_for_url(f"{oidc_hub.url}/services/workspaces/")
    page.screenshot(path=str(artifacts / "oidc-logged-in.png"))
    me = page.request.get(f"{oidc_hub.url}/hub/api/user").json()
    assert (me["name"], me["admin"]) == ("alice", False)


def test_someone_outside_the_allowed_groups_is_refused(oidc_hub: Hub, page: Page, artifacts):
    log_in_at_the_provider(page, oidc_hub, "mallory")
    page.wait_for_url(f"{oidc_hub.url}/hub/**")  # back at the hub, which says no
    assert "not currently authorized" in page.content()
    page.screenshot(path=str(artifacts / "oidc-refused.png"))
    assert page.request.get(f"{oidc_hub.url}/hub/api/user").status == 403
    assert oidc_hub.api("GET", "/users/mallory").status_code == 404
