"""Warnings before a stop, and keep-alives, on a real hub with a real server and a short timeout.

Idle workspaces stop themselves: jupyter-server stops once its own last
activity is older than the timeout, at its once-a-minute check. A keep-alive
must therefore move the server's own last activity (its /api/status says it),
which is what these tests watch, rather than waiting out minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from ..support.browser import log_in
from ..support.hub import Hub, wait_for

pytestmark = pytest.mark.hub

TIMEOUT_S = 120  # the extension reads the hub every 12 s (a tenth of it); nothing stops in the module's time
QUICK_S = 20  # cal's: it would stop at its server's first check, a minute after its start


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def ka_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    rules = [{"match": {"user": "cal"}, "timeout": QUICK_S}, {"match": {"user": "dee"}, "exempt": True}]
    settings = {"culling": {"default_timeout": TIMEOUT_S, "startup_grace": 0, "warn_before": "1h", "rules": rules}}
    h = Hub(tmp_path_factory.mktemp("keepalive"), settings=settings).start()
    try:
        # cal's server counts its first minute while the other tests run (the last test watches it)
        r = h.api("POST", "/users/cal/servers/quick", token=h.user_token("cal"), json={"image": "lab"})
        assert r.status_code in (201, 202), r.text
        h.start_workspace("ann", "kept", {"image": "lab"})
        h.wait_ready("cal", "quick")
        yield h
    finally:
        h.shutdown()


def keepalive(hub: Hub, owner: str, name: str, token: str) -> requests.Response:
    return hub.ws("POST", f"/workspaces/{owner}/{name}/keepalive", token=token)


def own_status(hub: Hub, name: str, user: str = "ann") -> dict[str, str]:
    """The server's own start and idea of its last activity (its culling counts from it); asking is not activity."""
    r = hub.get(f"/user/{user}/{name}/api/status", token=hub.user_token(user))
    assert r.status_code == 200, r.text
    return r.json()


def own_last_activity(hub: Hub, name: str) -> datetime:
    return parse(own_status(hub, name)["last_activity"])


def test_a_workspace_stopping_within_warn_before_carries_a_cull_warning(ka_hub: Hub):
    ws = ka_hub.ws("GET", "/workspaces/ann/kept", token=ka_hub.user_token("ann")).json()
    assert ws["cull_warning"]["reason"] == "idle"
    assert ws["cull_warning"]["at"] == ws["cull_at"]
    assert 0 <= ws["cull_warning"]["seconds_left"] <= TIMEOUT_S


def test_a_keepalive_moves_the_stop_to_one_timeout_from_now_and_reaches_the_servers_own_culling(ka_hub: Hub):
    # the server's own last activity (its start, at first) is in the past when the keep-alive comes
    wait_for(lambda: datetime.now(timezone.utc) - own_last_activity(ka_hub, "kept") > timedelta(seconds=2), 10, "a moment without activity")
    before = ka_hub.ws("GET", "/workspaces/ann/kept", token=ka_hub.user_token("ann")).json()["cull_at"]
    asked = datetime.now(timezone.utc)
    assert own_last_activity(ka_hub, "kept") < asked
    r = keepalive(ka_hub, "ann", "kept", ka_hub.user_token("ann"))
    assert r.status_code == 200, r.text
    cull_at = parse(r.json()["cull_at"])
    assert cull_at > parse(before)
    assert abs((cull_at - asked).total_seconds() - TIMEOUT_S) < 5
    # the server pulls it from the hub with its own token
    wait_for(lambda: own_last_activity(ka_hub, "kept") >= asked, 30, "the server to count the keep-alive")


def keepalives_counted(hub: Hub) -> float:
    metrics = hub.get("/services/workspaces/metrics", token=hub.user_token("admin"))  # read:metrics, as admins have
    assert metrics.status_code == 200, metrics.text
    [count] = [line for line in metrics.text.splitlines() if line.startswith("workspaces_api_keepalives_total ")]
    return float(count.split()[1])


def test_keepalives_are_counted_in_the_apis_metrics_for_admins(ka_hub: Hub):
    assert keepalive(ka_hub, "ann", "kept", ka_hub.user_token("ann")).status_code == 200
    assert keepalives_counted(ka_hub) >= 1
    refused = ka_hub.get("/services/workspaces/metrics", token=ka_hub.user_token("ann"))
    assert refused.status_code == 403


def test_a_keepalive_of_a_workspace_nothing_stops_moves_nothing_and_is_not_counted(ka_hub: Hub):
    # dee's rule is exempt: there is no stop to move (the metric counts keep-alives that moved one)
    ka_hub.start_workspace("dee", "forever", {"image": "lab"})
    before = keepalives_counted(ka_hub)
    r = keepalive(ka_hub, "dee", "forever", ka_hub.user_token("dee"))
    assert r.status_code == 200, r.text
    assert (r.json()["cull_at"], r.json()["cull_warning"]) == (None, None)
    assert keepalives_counted(ka_hub) == before


def test_a_keepalive_of_a_stopped_workspace_is_a_conflict(ka_hub: Hub):
    token = ka_hub.user_token("ann")
    # a named server the hub has a record of, never started (JupyterHub 6's PUT)
    r = ka_hub.api("PUT", "/users/ann/servers/off", token=token, json={"user_options": {"image": "lab"}})
    assert r.status_code == 201, r.text
    r = keepalive(ka_hub, "ann", "off", token)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "not_running"), r.text


def test_a_keepalive_takes_no_parameters(ka_hub: Hub):
    r = ka_hub.ws("POST", "/workspaces/ann/kept/keepalive", token=ka_hub.user_token("ann"), json={"minutes": 60})
    assert r.json() == {"error": {"code": "invalid_request", "message": "a keep-alive takes no parameters: send no body, or {}"}}


# -- in the browser: the dashboard's banner, and JupyterLab's notification ------------------------
# (here rather than in tests/browser/: they need this module's hub with its short timeout)


@pytest.fixture
def ann(browser: Browser, ka_hub: Hub) -> Iterator[Page]:
    ka_hub.user_token("ann")  # only users the hub knows may log in
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, ka_hub, "ann")
    yield page
    context.close()
    assert not errors, f"script errors: {errors}"


@pytest.mark.browser
def test_the_dashboard_warns_of_the_stop_and_keep_running_moves_it(ka_hub: Hub, ann: Page, artifacts: Path):
    before = ka_hub.ws("GET", "/workspaces/ann/kept", token=ka_hub.user_token("ann")).json()["cull_at"]
    ann.goto(f"{ka_hub.url}/services/workspaces/")
    banner = ann.locator('.cull-warning[data-workspace="ann/kept"]')
    expect(banner).to_contain_text("kept is idle and stops at")
    ann.screenshot(path=str(artifacts / "dashboard-cull-warning.png"), full_page=True)

    banner.get_by_role("button", name="Keep kept running").click()
    expect(ann.locator("#announcer")).to_contain_text("kept keeps running")
    after = ka_hub.ws("GET", "/workspaces/ann/kept", token=ka_hub.user_token("ann")).json()["cull_at"]
    assert parse(after) > parse(before)
    ann.screenshot(path=str(artifacts / "dashboard-keepalive.png"), full_page=True)


@pytest.mark.browser
def test_jupyterlab_notifies_of_the_stop_and_its_keep_running_action_reaches_the_server(ka_hub: Hub, ann: Page, artifacts: Path):
    ann.goto(f"{ka_hub.url}/user/ann/kept/lab")
    ann.wait_for_selector(".jp-Launcher", timeout=90_000)
    keep = ann.get_by_role("button", name="Keep running")
    expect(keep).to_be_visible(timeout=30_000)
    expect(ann.get_by_text("This workspace is idle and stops at")).to_be_visible()
    ann.screenshot(path=str(artifacts / "jupyterlab-cull-warning.png"))

    asked = datetime.now(timezone.utc)
    keep.click()
    expect(ann.get_by_text("This workspace keeps running.")).to_be_visible()
    assert own_last_activity(ka_hub, "kept") >= asked - timedelta(seconds=1)
    # the server told the hub at once: the dashboard's stop moved too
    cull_at = ka_hub.ws("GET", "/workspaces/ann/kept", token=ka_hub.user_token("ann")).json()["cull_at"]
    assert parse(cull_at) >= asked + timedelta(seconds=TIMEOUT_S - 5)


def test_a_kept_server_outlives_the_check_that_would_have_stopped_it(ka_hub: Hub):
    """The real thing, once: jupyter-server's own once-a-minute check does not stop a server kept alive.

    cal's server would stop at its first check, a minute after the server started (idle
    past 20 s). A keep-alive 48 s after that start makes its last activity some 12 s old
    at the check. (The server's own start, not the hub's, which is the spawn request.)
    """
    token = ka_hub.user_token("cal")
    started = parse(own_status(ka_hub, "quick", "cal")["started"])
    original = parse(ka_hub.ws("GET", "/workspaces/cal/quick", token=token).json()["cull_at"])
    assert original < started + timedelta(seconds=60)  # due before the first check
    wait_for(lambda: datetime.now(timezone.utc) >= started + timedelta(seconds=48), 60, "48 s after the start")
    assert keepalive(ka_hub, "cal", "quick", token).status_code == 200
    wait_for(lambda: datetime.now(timezone.utc) >= started + timedelta(seconds=70), 30, "the server's first check")
    server = ka_hub.server("cal", "quick")
    assert server is not None and server["ready"], "the kept server stopped at its first check"
