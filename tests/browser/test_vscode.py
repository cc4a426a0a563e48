"""VS Code on the local backend, in a real Chromium: the project's code-server behind the
workspace's jupyterhub-singleuser (jupyter-vscode-proxy), opened through the hub.

One workspace, one code-server start, for both tests: the browser test works in it, and
the activity test reads what that work (proxied traffic) did to the idle clocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from ..support.browser import log_in
from ..support.hub import Hub, wait_for
from ..support.vscode import vscode_workspace

pytestmark = [pytest.mark.hub, pytest.mark.browser]


@pytest.fixture(scope="module")
def code_hub(hub: Hub) -> Iterator[Hub]:
    """The session's hub with Cleo's VS Code workspace running (its entry reports activity every second)."""
    with vscode_workspace(hub, "cleo", "code"):
        yield hub


@pytest.fixture
def cleo(browser: Browser, code_hub: Hub) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    log_in(page, code_hub, "cleo")
    try:
        yield page
    finally:
        context.close()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_vscode_opens_through_the_hub_and_saves_a_new_file_in_the_workspace_folder(code_hub: Hub, cleo: Page, artifacts: Path):
    cleo.goto(f"{code_hub.url}/user/cleo/code/")  # the server sends her to its kind's landing URL
    expect(cleo).to_have_url(re.compile(r"/user/cleo/code/vscode/"))
    workbench = cleo.locator(".monaco-workbench")
    expect(workbench).to_be_visible()
    trust = cleo.get_by_role("button", name="Yes, I trust the authors")
    trust.click()  # her own folder, opened for the first time
    # the explorer's "New File..." on the workspace folder, then a name and some text
    cleo.locator(".explorer-folders-view").click()
    cleo.get_by_role("button", name="New File...").first.click()
    cleo.keyboard.type("hello.py")
    cleo.keyboard.press("Enter")
    editor = cleo.locator(".monaco-editor .view-lines").first
    expect(cleo.locator(".tab.active")).to_contain_text("hello.py")
    editor.click()
    cleo.keyboard.type("print('written in VS Code')")
    cleo.keyboard.press("Control+s")
    saved = code_hub.workspace_folder("cleo", "code") / "hello.py"
    wait_for(lambda: saved.exists() and saved.read_text() == "print('written in VS Code')", 15, "the file on disk")
    cleo.screenshot(path=str(artifacts / "vscode.png"))


def test_vscode_traffic_through_the_proxy_counts_as_activity_for_the_server_and_the_hub(code_hub: Hub):
    token = code_hub.user_token("cleo")

    def own_last_activity() -> datetime:
        # what the server's own idle culling counts from; asking is not activity
        return parse(code_hub.get("/user/cleo/code/api/status", token=token).json()["last_activity"])

    def hubs_last_activity() -> datetime:
        return parse(code_hub.server("cleo", "code")["last_activity"])

    wait_for(lambda: datetime.now(timezone.utc) - own_last_activity() > timedelta(seconds=1), 10, "a moment without activity")
    before = datetime.now(timezone.utc)
    assert own_last_activity() < before and hubs_last_activity() < before
    r = code_hub.get("/user/cleo/code/vscode/", token=token)
    assert r.status_code == 302 and "?folder=" in r.headers["Location"], r.text[:300]  # code-server's answer
    assert own_last_activity() >= before
    wait_for(lambda: hubs_last_activity() >= before, 10, "the server to report the activity to the hub")
