"""What a person does in the browser before anything else: log in to the hub."""

from __future__ import annotations

from playwright.sync_api import Page

from .hub import Hub


def log_in(page: Page, hub: Hub, user: str, at: str | None = None) -> None:
    """``at``: the hub's public URL, where it is not ``hub.url`` (a hub that routes by host).

    ``user`` is made someone who can log in first (``Hub.add_person``: native, they sign up
    and an admin approves them).
    """
    hub.add_person(user)
    page.goto(f"{at or hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password(user))
    page.click("#login_submit")
    page.wait_for_url("**/hub/**")
