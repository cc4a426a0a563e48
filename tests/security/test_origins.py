"""Attack: a user's own server serves a page that acts as whoever visits it.

Alice controls her server entirely: its process is hers (a command of her
choosing, or whatever she runs in its place from a terminal), and the proxy
sends everything under her server's URL to it. Her page tries what a page on
the dashboard's origin could do to Bob, logged in, who opens it in his
browser: read the dashboard (its xsrf token), call the workspaces API as Bob,
and get a hub API token of Bob's from the hub's pages.

With one origin for all (no hub.subdomain_host) every one of these succeeds.
With hub.subdomain_host her page is on alice.<host>, the dashboard on
workspaces--service.<host> and the hub on <host>: the browser keeps them
apart, and the API refuses the requests a page may send across origins.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from urllib.parse import urlencode, urljoin

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page

from ..support.browser import log_in
from ..support.origins import OriginsHub
from ..support.users_python import users_python

pytestmark = [pytest.mark.hub, pytest.mark.browser]

# Alice's page; its script reads where to aim from its query (dashboard=, hub=).
ATTACK_PAGE = """<!doctype html>
<title>Alice's page</title>
<script>
const target = new URLSearchParams(location.search);
const DASHBOARD = target.get("dashboard"), HUB = target.get("hub");
const inDashboard = (doc) => doc.querySelector('meta[name="workspaces-xsrf"]').content;
const loaded = (target) => new Promise((done) => { target.onload = done; setTimeout(done, 10000); });
window.attack = {
  // the dashboard's DOM, framed
  async frameDashboard() {
    const frame = document.createElement("iframe");
    frame.src = DASHBOARD;
    document.body.append(frame);
    await loaded(frame);
    try { return inDashboard(frame.contentDocument); } catch (e) { return null; }
  },
  // the dashboard's DOM, in a window of its own (where frame-ancestors does not reach)
  async openDashboard() {
    const opened = window.open(DASHBOARD);
    if (!opened) return "no window was opened";  // not a protection: the test must see it
    try {
      for (let tries = 0; tries < 100; tries++) {  // until it has loaded, or reading it throws
        const meta = opened.document.querySelector('meta[name="workspaces-xsrf"]');
        if (meta) return meta.content;
        await new Promise((wait) => setTimeout(wait, 100));
      }
      return "the dashboard did not load";
    } catch (e) { return null; } finally { opened.close(); }
  },
  // its xsrf token, any way it can be had (a script's fetch of the page included)
  async dashboardXsrf() {
    try {
      const r = await fetch(DASHBOARD, { credentials: "include" });
      const found = (await r.text()).match(/name="workspaces-xsrf" content="([^"]*)"/);
      if (found) return found[1];
    } catch (e) { /* next way */ }
    return (await this.frameDashboard()) || (await this.openDashboard());
  },
  // a workspace made as the visitor: with the token if one was read, else as a form would send it
  async createWorkspace(name) {
    const xsrf = await this.dashboardXsrf();
    const url = DASHBOARD + "api/v1/workspaces", body = JSON.stringify({ name });
    try {
      const r = xsrf
        ? await fetch(url, { method: "POST", credentials: "include", body,
                             headers: { "Content-Type": "application/json", "X-XSRFToken": xsrf } })
        : await fetch(url, { method: "POST", credentials: "include", mode: "no-cors", body,
                             headers: { "Content-Type": "text/plain" } });
      return r.status;
    } catch (e) { return null; }
  },
  // a hub API token of the visitor's, made with the xsrf token of a hub page
  async hubToken() {
    try {
      const page = await (await fetch(HUB + "token", { credentials: "include" })).text();
      const xsrf = (page.match(/xsrf_token: "([^"]*)"/) || [])[1];
      const headers = { "X-XSRFToken": xsrf, "Content-Type": "application/json" };
      const me = await (await fetch(HUB + "api/user", { credentials: "include", headers })).json();
      const r = await fetch(HUB + `api/users/${me.name}/tokens`, {
        method: "POST", credentials: "include", headers, body: JSON.stringify({ note: "from alice" }) });
      return (await r.json()).token || null;
    } catch (e) { return null; }
  },
};
</script>
"""

# Alice's server: it answers every GET with her page, as any process of hers may.
ALICES_SERVER = textwrap.dedent(
    f"""
    import os
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlparse

    PAGE = {ATTACK_PAGE.encode()!r}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args):
            pass

    port = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"]).port
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture(scope="module")
def origins_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginsHub]:
    hub = OriginsHub(tmp_path_factory.mktemp("origins"))
    python = users_python()  # the Python the hub's workspaces run, which their OS accounts may run
    catalog = yaml.safe_load(hub.catalog_file.read_text())
    catalog["images"].append({
        "id": "own-site", "display_name": "Alice's own server", "image": "example.org/own-site:1",
        "local": {"command": [python, "-c", ALICES_SERVER]},
    })
    hub.catalog_file.write_text(yaml.safe_dump(catalog))
    try:
        yield hub.start()  # type: ignore[misc]
    finally:
        hub.shutdown()


@pytest.fixture(scope="module")
def alices_page(origins_hub: OriginsHub) -> str:
    server = origins_hub.start_workspace("alice", "site", {"image": "own-site"})
    query = urlencode({"dashboard": origins_hub.dashboard_url, "hub": f"{origins_hub.public_url}/hub/"})
    return urljoin(origins_hub.public_url, f"{server['url']}page.html?{query}")


@pytest.fixture(scope="module")
def bob(browser: Browser, origins_hub: OriginsHub) -> Iterator[BrowserContext]:
    """Bob, logged in to the hub and using his dashboard, as on any working day."""
    context = browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
    log_in(page, origins_hub, "bob", at=origins_hub.public_url)
    page.goto(origins_hub.dashboard_url)
    page.get_by_role("heading", name="My workspaces").wait_for()
    page.close()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def bob_on_alices_page(bob: BrowserContext, alices_page: str) -> Iterator[Page]:
    page = bob.new_page()
    page.goto(alices_page)
    try:
        yield page
    finally:
        page.close()


def test_a_users_page_cannot_read_the_dashboard_it_frames(bob_on_alices_page: Page):
    assert bob_on_alices_page.evaluate("attack.frameDashboard()") is None


def test_a_users_page_cannot_read_the_dashboard_it_opens_in_a_window(bob_on_alices_page: Page):
    assert bob_on_alices_page.evaluate("attack.openDashboard()") is None


def test_a_users_page_cannot_create_a_workspace_as_its_visitor(bob_on_alices_page: Page, origins_hub: OriginsHub):
    status = bob_on_alices_page.evaluate("attack.createWorkspace('from-alice')")
    assert status != 201
    assert origins_hub.server("bob", "from-alice") is None


def test_a_users_page_cannot_get_a_hub_token_of_its_visitor(bob_on_alices_page: Page, origins_hub: OriginsHub):
    assert bob_on_alices_page.evaluate("attack.hubToken()") is None
    tokens = origins_hub.api("GET", "/users/bob/tokens").json()["api_tokens"]
    assert [t for t in tokens if t["note"] == "from alice"] == []
