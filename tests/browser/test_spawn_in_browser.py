"""A person in a real Chromium: log in, pick an image and a profile, land in JupyterLab."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from ..support.browser import log_in
from ..support.hub import Hub

pytestmark = [pytest.mark.hub, pytest.mark.browser]


def test_log_in_pick_image_and_profile_and_land_in_jupyterlab(hub: Hub, page: Page, artifacts):
    log_in(page, hub, "admin")
    page.goto(f"{hub.url}/hub/spawn/admin/from-browser")
    page.locator(".ws-form").wait_for()
    page.screenshot(path=str(artifacts / "spawn-form.png"), full_page=True)

    # pick by the visible labels, as a person would
    page.get_by_label("Old Lab").check()
    page.get_by_label("Medium").check()
    page.locator('form [type="submit"]').click()

    page.wait_for_url("**/user/admin/from-browser/lab**", timeout=90_000)
    page.wait_for_selector(".jp-Launcher", timeout=90_000)
    assert page.title().endswith("JupyterLab")
    page.screenshot(path=str(artifacts / "jupyterlab.png"))
    assert hub.server("admin", "from-browser")["user_options"] == {"image": "old-lab", "profile": "medium"}

    hub.api("DELETE", "/users/admin/servers/from-browser")
    hub.wait_stopped("admin", "from-browser")


def test_a_refused_choice_is_shown_on_the_form(hub: Hub, page: Page, artifacts):
    log_in(page, hub, "admin")
    page.goto(f"{hub.url}/hub/spawn/admin/no-team")
    # the form only offers what this user may use; a crafted submission is still checked
    page.evaluate(
        """() => { const r = document.querySelector('input[name="image"][value="lab"]'); r.value = 'team-lab'; r.checked = true; }"""
    )
    page.locator('form [type="submit"]').click()
    page.get_by_text("image 'team-lab' is not available to you").wait_for()
    page.screenshot(path=str(artifacts / "spawn-form-error.png"), full_page=True)
    assert page.locator('input[name="image"][value="lab"]').count() == 1  # the form is offered again
    assert not hub.workspace_folder("admin", "no-team").exists()
