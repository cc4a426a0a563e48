"""What a person does in the browser before anything else: log in to the hub."""

from __future__ import annotations

from playwright.sync_api import Page

from .hub import Hub


def log_in(page: Page, hub: Hub, user: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password(user))
    page.click("#login_submit")
    page.wait_for_url("**/hub/**")
