"""An origin per user (hub.subdomain_host) in a real Chromium, on the local backend.

The hub, the dashboard and each user's workspaces answer on hosts of their own
(tests/support/origins.py); a person still just logs in, opens the dashboard,
creates a workspace and lands in JupyterLab, on their own host.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from workspaces.client import Client

from ..support.browser import log_in
from ..support.origins import OriginsHub, localhost_names

pytestmark = [pytest.mark.hub, pytest.mark.browser]


@pytest.fixture(scope="module")
def origins_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginsHub]:
    hub = OriginsHub(tmp_path_factory.mktemp("subdomains"))
    try:
        yield hub.start()  # type: ignore[misc]
    finally:
        hub.shutdown()


def test_a_user_opens_the_dashboard_creates_a_workspace_and_lands_in_jupyterlab_on_their_own_host(
    origins_hub: OriginsHub, page: Page, artifacts
):
    log_in(page, origins_hub, "sam", at=origins_hub.public_url)  # the hub sends them to the dashboard's host
    page.wait_for_url(f"{origins_hub.dashboard_url}**")
    expect(page.get_by_role("link", name="Hub home")).to_have_attribute("href", f"{origins_hub.public_url}/hub/home")

    page.get_by_role("link", name="New workspace").first.click()
    page.get_by_label("Name").fill("notes")
    page.get_by_label("Test Lab").check()
    page.get_by_role("button", name="Create and start").click()

    page.wait_for_url(f"{origins_hub.server_url('sam', 'notes')}lab**", timeout=90_000)
    page.wait_for_selector(".jp-Launcher", timeout=90_000)
    assert page.title().endswith("JupyterLab")
    page.screenshot(path=str(artifacts / "subdomains-jupyterlab.png"))


def test_the_client_finds_the_api_on_its_host_and_gives_workspaces_their_users_hosts(origins_hub: OriginsHub):
    origins_hub.start_workspace("kim", "data")
    with localhost_names(), Client(origins_hub.public_url, origins_hub.user_token("kim")) as client:
        assert client.api_url == origins_hub.dashboard_url + "api/v1"
        [workspace] = client.list_workspaces()
        assert client.workspace_url(workspace) == origins_hub.server_url("kim", "data")
