"""A person in a real Chromium: log in, pick an image and a profile, land in JupyterLab."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ..support.hub import Hub

pytestmark = [pytest.mark.hub, pytest.mark.browser]

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # No skip: a browser test that cannot run must fail (make test installs Chromium).
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Page, hub: Hub, user: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password(user))
    page.click("#login_submit")
    page.wait_for_url("**/hub/**")


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
