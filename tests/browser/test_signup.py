"""auth.type native in a real Chromium: a person signs up, an admin approves them on the hub's
page, and they log in with their own password."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from ..support.browser import log_in
from ..support.hub import Hub

pytestmark = [pytest.mark.hub, pytest.mark.browser]


def test_a_person_signs_up_an_admin_approves_them_and_they_log_in(hub: Hub, page: Page, browser: Browser, artifacts):
    page.goto(f"{hub.url}/hub/signup")
    page.fill("#username_input", "zoe")
    page.fill("#password_input", hub.password("zoe"))
    page.fill("#password_confirmation_input", hub.password("zoe"))
    page.click("#signup_submit")
    page.get_by_text("Your information has been sent to the admin.").wait_for()

    admin = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        admin_page = admin.new_page()
        log_in(admin_page, hub, "admin")
        admin_page.goto(f"{hub.url}/hub/authorize")
        admin_page.locator("tr#zoe").get_by_role("button", name="Authorize").click()
        admin_page.locator("tr#zoe.success").wait_for()  # approved: the hub's own page sent it
        admin_page.screenshot(path=str(artifacts / "signup-approved.png"), full_page=True)
    finally:
        admin.close()

    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", "zoe")
    page.fill("#password_input", hub.password("zoe"))
    page.click("#login_submit")
    page.wait_for_url(f"{hub.url}/services/workspaces/")  # logged in, on the dashboard
    assert page.request.get(f"{hub.url}/hub/api/user").json()["name"] == "zoe"
