"""What a person does in the browser before anything else: log in to the hub."""

from __future__ import annotations

from urllib.parse import urlencode

from playwright.sync_api import Page

from .hub import Hub


def log_in(page: Page, hub: Hub, user: str, at: str | None = None, next_url: str | None = None) -> None:
    """``at``: the hub's public URL, where it is not ``hub.url`` (a hub that routes by host);
    ``next_url``: the login page's ?next= target.

    ``user`` is made someone who can log in first (``Hub.add_person``: native, they sign up
    and an admin approves them).
    """
    hub.add_person(user)
    page.goto(f"{at or hub.url}/hub/login" + (f"?{urlencode({'next': next_url})}" if next_url else ""))
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password(user))
    page.click("#login_submit")
    # logged in: the hub has sent them on (to the dashboard, or to next_url)
    page.wait_for_url(lambda url: "/hub/login" not in url)
