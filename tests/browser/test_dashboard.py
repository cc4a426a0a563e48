"""The dashboard in a real Chromium, on a real hub with the local backend.

People do what they came for: create a workspace from the form, watch it
start, work in JupyterLab, come back, stop, start and delete it; admins manage
everyone's workspaces and the image catalog. Screenshots of each page go to
test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from ..support.browser import log_in
from ..support.hub import DATA, Hub, wait_for
from ..support.stub_server import LOCAL_RUNTIME
from ..support.users_python import users_python

pytestmark = [pytest.mark.hub, pytest.mark.browser]

DASHBOARD = "/services/workspaces/"
# budgets for the budget tests' people only: everyone else has none
QUOTAS = {"users": {"bea": {"workspaces": 1, "gpus": 1}}, "groups": {"lab-team": {"workspaces": 3}}}


@pytest.fixture(scope="module")
def dash_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub of its own: its catalog is edited here, and it has a quick-starting image."""
    root = tmp_path_factory.mktemp("dashboard")
    catalog = yaml.safe_load((DATA / "catalog.yaml").read_text())
    catalog["images"].append({
        "id": "quick", "display_name": "Quick Server", "description": "Starts in a blink (tests).",
        "image": "example.org/quick:1", "local": LOCAL_RUNTIME,
    })
    catalog["images"].append({
        "id": "broken", "display_name": "Broken Server", "description": "Exits at once (tests).",
        "image": "example.org/broken:1",
        "local": {"command": [users_python(), "-c", "import sys; sys.exit('this server cannot start')"]},
    })
    catalog["custom_images"] = {"allow": ["registry.example.org/team/*"]}  # which the local backend cannot run
    (root / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    hub = Hub(root, catalog=root / "catalog.yaml", settings={"quotas": QUOTAS})
    try:
        yield hub.start()
    finally:
        hub.shutdown()


@pytest.fixture(scope="module", autouse=True)
def expiring_link(dash_hub: Hub) -> dict:
    """A share link to a workspace of Alice's that stops working a minute after the module
    starts (the hub's shortest expiry): made first, so that the sharing test, near the end,
    finds it expired rather than waiting for it (it waits for the condition either way)."""
    started(dash_hub, "alice", "linked")
    r = dash_hub.ws("POST", "/workspaces/alice/linked/shares", token=dash_hub.user_token("alice"),
                    json={"code": {"expires_in": 60}})
    assert r.status_code == 201, r.text
    return r.json()


_logins: dict[tuple[str, str], dict] = {}  # (hub, user) -> cookies after logging in once


def person(browser: Browser, hub: Hub, user: str, width: int = 1280) -> Page:
    """A browser of their own, logged in, every script error recorded."""
    if user != "admin":
        hub.user_token(user)  # only users the hub knows may log in
    state = _logins.get((hub.url, user))
    context = browser.new_context(viewport={"width": width, "height": 900}, storage_state=state)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))  # type: ignore[attr-defined]
    if state is None:
        log_in(page, hub, user)
        _logins[(hub.url, user)] = context.storage_state()
    return page


@pytest.fixture
def people(browser: Browser, dash_hub: Hub) -> Iterator[dict[str, Page]]:
    pages: dict[str, Page] = {}

    def open_as(user: str, width: int = 1280) -> Page:
        pages[user] = person(browser, dash_hub, user, width)
        return pages[user]

    yield open_as  # type: ignore[misc]
    for page in pages.values():
        errors = [e for e in page.errors if "status of 4" not in e]  # type: ignore[attr-defined]
        page.context.close()
        assert not errors, f"script errors: {errors}"


def dashboard(page: Page, hub: Hub, route: str = "") -> None:
    page.goto(f"{hub.url}{DASHBOARD}{route}")
    page.locator("main h1").first.wait_for()


def row(page: Page, name: str):
    return page.locator(f'tr[data-workspace$="/{name}"]')


def names(hub: Hub, user: str) -> list[str]:
    servers = hub.api("GET", f"/users/{user}", params={"include_stopped_servers": "1"}).json()["servers"]
    return sorted(n for n in servers if n)


def started(hub: Hub, user: str, name: str) -> None:
    """A workspace of the quick image, made through the API and running."""
    r = hub.ws("POST", "/workspaces", token=hub.user_token(user), json={"name": name, "spec": {"image": "quick"}})
    assert r.status_code == 201, r.text
    hub.wait_ready(user, name)


# -- users -----------------------------------------------------------------------------------------


def test_a_user_creates_works_in_stops_starts_and_deletes_a_workspace(dash_hub: Hub, people, artifacts: Path):
    ada = people("ada")
    dashboard(ada, dash_hub)
    expect(ada.get_by_text("You have no workspaces yet.")).to_be_visible()

    ada.get_by_role("link", name="New workspace").first.click()
    ada.get_by_label("Name").fill("analysis")
    ada.get_by_label("Test Lab").check()
    ada.get_by_label("Medium").check()
    ada.screenshot(path=str(artifacts / "dashboard-form.png"), full_page=True)
    ada.get_by_role("button", name="Create and start").click()

    expect(ada.get_by_role("heading", name="Starting analysis")).to_be_visible()
    ada.wait_for_url("**/user/ada/analysis/lab**", timeout=90_000)
    ada.wait_for_selector(".jp-Launcher", timeout=90_000)

    # another user never sees it
    bob = people("bob")
    dashboard(bob, dash_hub)
    expect(bob.get_by_text("You have no workspaces yet.")).to_be_visible()
    assert dash_hub.ws("GET", "/workspaces/ada/analysis", token=dash_hub.user_token("bob")).status_code == 404

    dashboard(ada, dash_hub)
    expect(row(ada, "analysis").locator(".badge.state-running")).to_be_visible()
    expect(row(ada, "analysis")).to_contain_text("Medium")
    expect(row(ada, "analysis").get_by_role("link", name="Connect to analysis")).to_have_attribute("href", "/user/ada/analysis/")
    expect(row(ada, "analysis").locator('td[data-label="Idle stop"] time')).to_have_text(re.compile(r"in (59|60) minutes"))
    ada.screenshot(path=str(artifacts / "dashboard-list.png"), full_page=True)

    folder = dash_hub.workspace_folder("ada", "analysis")
    (folder / "notes.txt").write_text("keep me")
    row(ada, "analysis").get_by_role("button", name="Stop analysis").click()
    expect(row(ada, "analysis").locator(".badge.state-stopped")).to_be_visible(timeout=30_000)  # refreshes by itself
    assert (folder / "notes.txt").read_text() == "keep me"

    row(ada, "analysis").get_by_role("button", name="Start analysis").click()
    ada.wait_for_url("**/user/ada/analysis/lab**", timeout=90_000)
    ada.wait_for_selector(".jp-Launcher", timeout=90_000)

    dashboard(ada, dash_hub)
    row(ada, "analysis").get_by_role("button", name="Delete analysis").click()
    dialog = ada.get_by_role("dialog")
    expect(dialog).to_contain_text("its folder and every file in it")
    expect(dialog).to_contain_text("cannot be undone")
    dialog.get_by_role("button", name="Delete forever").click()
    expect(ada.get_by_text("You have no workspaces yet.")).to_be_visible(timeout=30_000)
    assert names(dash_hub, "ada") == [] and not folder.exists()


def test_a_spec_changed_while_running_waits_for_the_next_start(dash_hub: Hub, people):
    started(dash_hub, "mo", "tune")
    mo = people("mo")
    dashboard(mo, dash_hub)
    row(mo, "tune").get_by_role("link", name="Edit tune").click()
    expect(mo.get_by_text("This workspace is running: a change applies the next time it starts.")).to_be_visible()
    mo.get_by_label("Medium").check()
    mo.get_by_role("button", name="Save").click()
    expect(row(mo, "tune").locator(".pending-restart")).to_have_text("restart pending")
    expect(row(mo, "tune")).to_contain_text("Medium")

    row(mo, "tune").get_by_role("button", name="Stop tune").click()
    expect(row(mo, "tune").locator(".badge.state-stopped")).to_be_visible()
    row(mo, "tune").get_by_role("button", name="Start tune").click()
    mo.wait_for_url("**/user/mo/tune/**")
    assert dash_hub.server("mo", "tune")["user_options"]["profile"] == "medium"
    assert dash_hub.ws("DELETE", "/workspaces/mo/tune", token=dash_hub.user_token("mo")).status_code in (202, 204)


def test_a_bad_name_is_shown_as_it_is_typed_and_nothing_is_created(dash_hub: Hub, people):
    cy = people("cy")
    dashboard(cy, dash_hub, "#/new")
    name = cy.get_by_label("Name")
    name.fill("My_Analysis")
    expect(cy.locator("#ws-name-error")).to_contain_text("lowercase letters, digits and single hyphens")
    expect(name).to_have_attribute("aria-invalid", "true")
    cy.get_by_role("button", name="Create and start").click()
    expect(cy.locator("#ws-name-error")).to_be_visible()
    name.fill("my-analysis")
    expect(cy.locator("#ws-name-error")).to_have_count(0)
    assert names(dash_hub, "cy") == []


def test_a_forbidden_profile_is_refused_next_to_the_profile_and_nothing_is_created(dash_hub: Hub, people, artifacts: Path):
    # a link that asks for a profile this user may not use (big is for the big-users group)
    cy = people("cy")
    dashboard(cy, dash_hub, "#/new?profile=big&image=quick")
    expect(cy.locator("#ws-profile")).to_contain_text("Not offered to you.")
    cy.get_by_label("Name").fill("too-big")
    cy.get_by_role("button", name="Create and start").click()
    expect(cy.locator("#ws-profile-error")).to_have_text("profile 'big' is not available to you; allowed: small, medium, gpu-1")
    expect(cy.locator("#ws-profile")).to_have_attribute("aria-invalid", "true")
    cy.screenshot(path=str(artifacts / "dashboard-form-error.png"), full_page=True)
    assert names(dash_hub, "cy") == []


def test_a_profile_this_machine_can_never_serve_is_shown_unavailable_with_the_reason(dash_hub: Hub, people, artifacts: Path):
    # the dashboard's hub sees no GPU
    dee = people("dee")
    dashboard(dee, dash_hub, "#/new")
    card = dee.locator("#profile-gpu-1").locator("xpath=..")
    expect(card.locator('[data-capacity="never"]')).to_have_text("Unavailable: needs 1 GPU(s), this machine has 0")
    expect(dee.locator("#profile-gpu-1")).to_be_disabled()
    expect(dee.locator("#ws-profile")).to_contain_text("can start now")  # the CPU profiles
    dee.screenshot(path=str(artifacts / "dashboard-capacity-no-gpu.png"), full_page=True)


def test_an_image_that_cannot_run_here_is_refused_next_to_the_image(dash_hub: Hub, people):
    # VS Code has no local runtime: the API refuses it before anything starts
    dee = people("dee")
    dashboard(dee, dash_hub, "#/new?image=code-server")
    dee.get_by_label("Name").fill("code")
    dee.get_by_role("button", name="Create and start").click()
    expect(dee.locator("#ws-image-error")).to_contain_text("no local runtime")
    assert names(dash_hub, "dee") == []


def test_a_custom_image_is_shown_unavailable_with_the_reason_where_none_can_run(
    dash_hub: Hub, people, artifacts: Path,
):
    fay = people("fay")
    dashboard(fay, dash_hub, "#/new")
    no_containers = "the local backend runs no containers; custom images need the kubernetes backend"
    expect(fay.locator("#image-custom-about")).to_have_text(f"Unavailable: {no_containers}")
    expect(fay.get_by_label("Custom image")).to_be_disabled()
    expect(fay.get_by_label("Image reference")).to_have_count(0)

    # the API refuses it as well (the form on a hub that can run them: tests/integration/test_kube_hub.py)
    r = dash_hub.ws("POST", "/workspaces", token=dash_hub.user_token("fay"),
                    json={"name": "own-image", "spec": {"custom_image": "registry.example.org/team/x:1"}})
    assert r.status_code == 400 and no_containers in r.json()["error"]["message"], r.text
    fay.screenshot(path=str(artifacts / "dashboard-custom-image.png"), full_page=True)
    assert names(dash_hub, "fay") == []


def test_a_start_that_fails_ends_in_its_cause(dash_hub: Hub, people):
    dee = people("dee")
    dashboard(dee, dash_hub, "#/new")
    dee.get_by_label("Name").fill("doomed")
    dee.get_by_label("Broken Server").check()
    dee.get_by_role("button", name="Create and start").click()
    outcome = dee.get_by_role("alert").filter(has_text="The start failed")
    expect(outcome).to_be_visible(timeout=60_000)
    expect(outcome.locator(".reason")).to_contain_text("exited with status 1 while starting")
    dashboard(dee, dash_hub)
    expect(row(dee, "doomed").locator(".badge.state-failed")).to_be_visible()
    expect(row(dee, "doomed").locator(".reason")).to_contain_text("exited with status 1 while starting")
    assert dash_hub.ws("DELETE", "/workspaces/dee/doomed", token=dash_hub.user_token("dee")).status_code == 204


def test_a_cancelled_delete_leaves_the_workspace_and_its_delete_button_as_they_were(dash_hub: Hub, people):
    started(dash_hub, "nia", "keep")
    nia = people("nia")
    dashboard(nia, dash_hub)
    delete = row(nia, "keep").get_by_role("button", name="Delete keep")
    delete.click()
    nia.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(nia.get_by_role("dialog")).to_have_count(0)
    expect(delete).to_be_focused()  # a keyboard user is where they were
    delete.click()  # and it still works
    expect(nia.get_by_role("dialog")).to_contain_text("Delete keep?")
    nia.keyboard.press("Escape")
    assert names(dash_hub, "nia") == ["keep"]
    assert dash_hub.ws("DELETE", "/workspaces/nia/keep", token=dash_hub.user_token("nia")).status_code in (202, 204)


def test_a_view_left_before_it_loaded_never_replaces_the_next_one(dash_hub: Hub, people):
    oz = people("oz")
    held: list = []
    oz.route("**/api/v1/workspaces?owner=*", lambda route: held.append(route))  # the form's list of names already taken
    with oz.expect_request("**/api/v1/workspaces?owner=*"):
        oz.goto(f"{dash_hub.url}{DASHBOARD}#/new")
    with oz.expect_event("requestfailed", lambda r: "owner=" in r.url, timeout=5000):  # the page gives up on it
        oz.get_by_role("link", name="My workspaces").click()
    held[0].continue_()  # the answer comes after all
    expect(oz.get_by_role("heading", name="My workspaces")).to_be_visible()
    expect(oz.locator("main h1")).to_have_count(1)


def test_a_malformed_link_is_not_found(dash_hub: Hub, people):
    pat = people("pat")
    dashboard(pat, dash_hub)
    pat.goto(f"{dash_hub.url}{DASHBOARD}#/edit/pat/%E0%A4%A")  # a broken escape, as a mangled link may carry
    expect(pat.locator("main h1")).to_have_text("Not found")


# -- admins ----------------------------------------------------------------------------------------


def test_an_admin_sees_everyones_workspaces_filters_them_and_stops_and_deletes_any(dash_hub: Hub, people):
    started(dash_hub, "eve", "eve-one")
    started(dash_hub, "fay", "fay-one")
    admin = people("admin")
    dashboard(admin, dash_hub, "#/all")
    expect(row(admin, "eve-one")).to_be_visible()
    expect(row(admin, "fay-one")).to_be_visible()

    admin.get_by_label("Owner").fill("fay")
    expect(row(admin, "eve-one")).to_have_count(0)
    expect(row(admin, "fay-one")).to_be_visible()

    row(admin, "fay-one").get_by_role("button", name="Stop fay/fay-one").click()
    expect(row(admin, "fay-one").locator(".badge.state-stopped")).to_be_visible(timeout=30_000)
    row(admin, "fay-one").get_by_role("button", name="Delete fay/fay-one").click()
    admin.get_by_role("dialog").get_by_role("button", name="Delete forever").click()
    expect(admin.get_by_text("No workspaces match.")).to_be_visible()
    assert names(dash_hub, "fay") == [] and names(dash_hub, "eve") == ["eve-one"]


def test_users_have_no_admin_pages(dash_hub: Hub, people):
    gus = people("gus")
    dashboard(gus, dash_hub)
    expect(gus.get_by_role("link", name="All workspaces")).to_be_hidden()
    expect(gus.get_by_role("link", name="Image catalog")).to_be_hidden()
    dashboard(gus, dash_hub, "#/catalog")
    expect(gus.get_by_text("Only catalog admins may change the image catalog.")).to_be_visible()


def test_an_image_an_admin_adds_is_offered_at_once_and_its_deprecation_is_shown(dash_hub: Hub, people, artifacts: Path):
    admin = people("admin")
    dashboard(admin, dash_hub, "#/catalog")
    admin.get_by_role("button", name="Add image").click()
    admin.get_by_label("Id", exact=True).fill("SciPy Lab")
    admin.get_by_label("Display name").fill("SciPy Lab")
    admin.get_by_label("Image reference").fill("quay.io/jupyter/scipy-notebook:2025-10-20")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator("#img-id-error")).to_be_visible()  # the API's rule for ids, next to the field
    admin.get_by_label("Id", exact=True).fill("scipy")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator('tr[data-image="scipy"]')).to_contain_text("SciPy Lab")

    hal = people("hal")
    dashboard(hal, dash_hub, "#/new")
    expect(hal.get_by_label("SciPy Lab")).to_be_enabled()

    admin.locator('tr[data-image="scipy"]').get_by_role("button", name="Deprecate SciPy Lab").click()
    admin.get_by_role("dialog").get_by_label("Message").fill("Use Test Lab instead.")
    admin.get_by_role("dialog").get_by_label("Message").press("Enter")  # Enter in the field confirms
    expect(admin.locator('tr[data-image="scipy"]')).to_contain_text("Deprecated: Use Test Lab instead.")
    admin.screenshot(path=str(artifacts / "dashboard-catalog.png"), full_page=True)

    hal.get_by_role("link", name="My workspaces").click()  # and back to the form, as a person would
    hal.get_by_role("link", name="New workspace").first.click()
    expect(hal.locator("#image-scipy-about")).to_contain_text("Deprecated: Use Test Lab instead.")


def test_hiding_and_showing_a_deprecated_image_keeps_its_successor(dash_hub: Hub, people):
    entry = {"id": "moved", "display_name": "Moved Lab", "image": "example.org/moved:1", "local": {"python": "default"},
             "deprecated": {"message": "Use Test Lab.", "use": "lab"}}
    assert dash_hub.ws("POST", "/images", json=entry).status_code == 201
    admin = people("admin")
    dashboard(admin, dash_hub, "#/catalog")
    admin.locator('tr[data-image="moved"]').get_by_role("button", name="Hide Moved Lab").click()
    expect(admin.locator('tr[data-image="moved"]')).to_contain_text("hidden")
    admin.locator('tr[data-image="moved"]').get_by_role("button", name="Show Moved Lab").click()
    expect(admin.locator('tr[data-image="moved"]')).not_to_contain_text("hidden")
    image = dash_hub.ws("GET", "/images/moved").json()
    assert (image["deprecated"], image["successor"]) == ("Use Test Lab.", "lab")
    assert dash_hub.ws("DELETE", "/images/moved").status_code == 204


def test_editing_an_image_in_the_form_keeps_its_local_packages(dash_hub: Hub, people):
    local = {"requirements": ["inflection==0.5.1"], "warm_pool": {"size": 0}}
    entry = {"id": "packed", "display_name": "Packed Lab", "image": "example.org/packed:1", "local": local}
    assert dash_hub.ws("POST", "/images", json=entry).status_code == 201
    admin = people("admin")
    dashboard(admin, dash_hub, "#/catalog")
    admin.locator('tr[data-image="packed"]').get_by_role("button", name="Edit Packed Lab").click()
    admin.get_by_label("Display name").fill("Packed Lab 2")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator('tr[data-image="packed"]')).to_contain_text("Packed Lab 2")
    assert dash_hub.ws("GET", "/images/packed").json()["local"] == {"python": "default", **local}
    assert dash_hub.ws("DELETE", "/images/packed").status_code == 204


def test_an_admin_edits_hides_shows_and_removes_an_image_and_users_see_each_change(dash_hub: Hub, people):
    entry = {"id": "spare", "display_name": "Spare Lab", "image": "example.org/spare:1", "local": {"python": "default"}}
    assert dash_hub.ws("POST", "/images", json=entry).status_code == 201
    admin, lou = people("admin"), people("lou")
    dashboard(admin, dash_hub, "#/catalog")
    spare = admin.locator('tr[data-image="spare"]')

    spare.get_by_role("button", name="Edit Spare Lab").click()
    admin.get_by_label("Display name").fill("Spare Lab 2")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator('tr[data-image="spare"]')).to_contain_text("Spare Lab 2")

    admin.locator('tr[data-image="spare"]').get_by_role("button", name="Hide Spare Lab 2").click()
    expect(admin.locator('tr[data-image="spare"]')).to_contain_text("hidden")
    dashboard(lou, dash_hub, "#/new")
    expect(lou.locator("#image-spare")).to_have_count(0)

    admin.locator('tr[data-image="spare"]').get_by_role("button", name="Show Spare Lab 2").click()
    expect(admin.locator('tr[data-image="spare"]')).not_to_contain_text("hidden")
    lou.reload()
    expect(lou.get_by_label("Spare Lab 2")).to_be_enabled()

    admin.locator('tr[data-image="spare"]').get_by_role("button", name="Remove Spare Lab 2").click()
    admin.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(admin.locator('tr[data-image="spare"]')).to_have_count(0)
    assert dash_hub.ws("GET", "/images/spare").status_code == 404


def test_profiles_are_shown_to_admins_with_their_rules(dash_hub: Hub, people):
    admin = people("admin")
    dashboard(admin, dash_hub, "#/catalog")
    big = admin.locator('tr[data-profile="big"]')
    expect(big).to_contain_text("groups: big-users")
    expect(big.locator('td[data-label="Idle timeout"]')).to_have_text("1 hour")
    expect(admin.locator('tr[data-profile="gpu-1"]')).to_contain_text("1 × nvidia.com/gpu")
    expect(admin.get_by_role("button", name=re.compile("Edit .*Small"))).to_have_count(0)  # read-only


# -- quality ---------------------------------------------------------------------------------------


def test_text_from_the_catalog_is_never_run_as_html(dash_hub: Hub, people):
    entry = {"id": "tricky", "display_name": "<img src=x onerror=\"window.pwned=1\">Tricky", "image": "example.org/t:1",
             "description": "<b>bold?</b>", "local": {"python": "default"}}
    assert dash_hub.ws("POST", "/images", json=entry).status_code == 201
    ivy = people("ivy")
    dashboard(ivy, dash_hub, "#/new")
    expect(ivy.locator("#ws-image")).to_contain_text('<img src=x onerror="window.pwned=1">Tricky')
    expect(ivy.locator("#ws-image")).to_contain_text("<b>bold?</b>")
    assert ivy.evaluate("window.pwned") is None and ivy.locator("#ws-image img[src=x]").count() == 0
    assert dash_hub.ws("DELETE", "/images/tricky").status_code == 204


def test_the_page_allows_only_its_own_scripts(dash_hub: Hub, people):
    jo = people("jo")
    response = jo.goto(f"{dash_hub.url}{DASHBOARD}")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp


def test_someone_not_logged_in_is_sent_to_the_hubs_login(dash_hub: Hub, browser: Browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{dash_hub.url}{DASHBOARD}")
        page.wait_for_url("**/hub/login**")
    finally:
        context.close()


ALL_VIEWS = ["", "#/new", "#/all", "#/catalog"]


@pytest.mark.parametrize("route", ALL_VIEWS)
def test_every_control_has_a_name_and_every_view_one_main_heading(dash_hub: Hub, people, route: str):
    admin = people("admin")
    dashboard(admin, dash_hub, route)
    admin.wait_for_load_state("networkidle")
    unnamed = admin.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
        .filter((el) => !el.closest('[hidden]'))
        .filter((el) => {
          if (el.labels && el.labels.length) return false;
          if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
          return !(el.textContent || '').trim();
        })
        .map((el) => el.outerHTML.slice(0, 80))""")
    assert unnamed == []
    assert admin.locator("main h1").count() == 1


def test_the_list_is_reachable_by_keyboard(dash_hub: Hub, people):
    started(dash_hub, "rae", "rae-one")
    admin = people("admin")
    dashboard(admin, dash_hub, "#/all")
    admin.get_by_label("Owner").fill("rae")  # and on from there, by keyboard only
    expect(admin.locator("tbody tr")).to_have_count(1)
    reached = set()
    for _ in range(20):
        admin.keyboard.press("Tab")
        reached.add(admin.evaluate("document.activeElement.getAttribute('aria-label') || document.activeElement.textContent.trim()"))
    assert {"Connect to rae/rae-one", "Stop rae/rae-one", "Delete rae/rae-one"} <= reached
    assert dash_hub.ws("DELETE", "/workspaces/rae/rae-one", token=dash_hub.user_token("rae")).status_code in (202, 204)


def test_a_view_reached_from_the_keyboard_takes_the_focus_to_its_heading(dash_hub: Hub, people):
    quinn = people("quinn")
    dashboard(quinn, dash_hub)
    quinn.get_by_role("navigation", name="Dashboard").get_by_role("link", name="New workspace").press("Enter")
    expect(quinn.get_by_role("heading", name="New workspace")).to_be_focused()


@pytest.mark.parametrize("route", ALL_VIEWS)
def test_every_view_reads_on_a_narrow_window(dash_hub: Hub, people, artifacts: Path, route: str):
    admin = people("admin", width=380)
    dashboard(admin, dash_hub, route)
    admin.wait_for_load_state("networkidle")
    assert admin.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    if route == "#/all":
        admin.screenshot(path=str(artifacts / "dashboard-narrow.png"), full_page=True)


def test_the_hub_leads_to_the_dashboard(dash_hub: Hub, people):
    kim = people("kim")
    kim.goto(f"{dash_hub.url}/hub/home")
    kim.locator("#workspaces-nav").click()
    kim.wait_for_url(f"**{DASHBOARD}")
    expect(kim.get_by_role("heading", name="My workspaces")).to_be_visible()
    kim.goto(f"{dash_hub.url}/hub/home")
    expect(kim.get_by_role("link", name="Open the Workspaces dashboard")).to_have_attribute("href", DASHBOARD)


def test_a_fresh_login_lands_on_the_dashboard(dash_hub: Hub, browser: Browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, dash_hub, "lia")
        assert page.url == f"{dash_hub.url}{DASHBOARD}"
        expect(page.get_by_role("heading", name="My workspaces")).to_be_visible()
    finally:
        context.close()


def test_a_login_with_an_explicit_next_goes_there(dash_hub: Hub, browser: Browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, dash_hub, "lia", next_url="/hub/token")
        assert page.url == f"{dash_hub.url}/hub/token"
    finally:
        context.close()


# -- image updates -------------------------------------------------------------------------------


def test_a_workspace_on_a_deprecated_image_shows_the_update_and_switches_to_the_successor(
    dash_hub: Hub, people, artifacts: Path
):
    old = {"id": "quick-2024", "display_name": "Quick 2024", "image": "example.org/quick:2024", "local": LOCAL_RUNTIME,
           "deprecated": {"message": "Quick 2024 is going away.", "use": "quick"}}
    assert dash_hub.ws("POST", "/images", json=old).status_code == 201
    token = dash_hub.user_token("uma")
    r = dash_hub.ws("POST", "/workspaces", token=token, json={"name": "old-one", "spec": {"image": "quick-2024"}})
    assert r.status_code == 201, r.text
    dash_hub.wait_ready("uma", "old-one")

    uma = people("uma")
    dashboard(uma, dash_hub)
    expect(row(uma, "old-one").locator(".badge.update")).to_have_text("update available")
    expect(row(uma, "old-one")).to_contain_text("Quick 2024 is going away.")
    uma.screenshot(path=str(artifacts / "dashboard-update-available.png"), full_page=True)

    row(uma, "old-one").get_by_role("link", name="Switch old-one to Quick Server").click()
    expect(uma.locator("#image-quick")).to_be_checked()
    expect(uma.locator("#ws-image-update")).to_contain_text("Quick Server replaces it")
    uma.get_by_role("button", name="Save").click()
    expect(row(uma, "old-one").locator(".badge.pending-restart")).to_be_visible()
    expect(row(uma, "old-one").locator(".badge.update")).to_have_count(0)
    assert dash_hub.ws("GET", "/workspaces/uma/old-one", token=token).json()["spec"]["image"] == "quick"
    assert dash_hub.ws("DELETE", "/workspaces/uma/old-one", token=token).status_code in (202, 204)
    assert dash_hub.ws("DELETE", "/images/quick-2024").status_code == 204


# -- budgets -------------------------------------------------------------------------------------


def test_a_person_sees_their_budget_and_a_create_over_it_is_refused_and_leaves_nothing(dash_hub: Hub, people, artifacts: Path):
    started(dash_hub, "bea", "bea-one")
    bea = people("bea")
    dashboard(bea, dash_hub)
    budget = bea.get_by_label("Your budget")
    expect(budget).to_contain_text("1 of 1 running workspace in use")
    expect(budget).to_contain_text("0 of 1 GPU in use")
    bea.screenshot(path=str(artifacts / "dashboard-budget.png"), full_page=True)
    dashboard(bea, dash_hub, "#/new")
    bea.get_by_label("Name").fill("bea-two")
    bea.get_by_label("Quick Server").check()
    bea.get_by_role("button", name="Create and start").click()
    expect(bea.get_by_text("workspace budget (user bea): 1 of 1 running workspace in use, 1 more asked")).to_be_visible()
    bea.screenshot(path=str(artifacts / "dashboard-budget-refused.png"), full_page=True)
    dashboard(bea, dash_hub)
    expect(row(bea, "bea-one")).to_be_visible()
    expect(row(bea, "bea-two")).to_have_count(0)
    assert names(dash_hub, "bea") == ["bea-one"]
    assert dash_hub.ws("DELETE", "/workspaces/bea/bea-one", token=dash_hub.user_token("bea")).status_code in (202, 204)


def test_an_admin_sees_use_per_user_and_per_group(dash_hub: Hub, people, artifacts: Path):
    dash_hub.user_token("ned")
    assert dash_hub.api("POST", "/groups/lab-team").status_code in (201, 409)
    assert dash_hub.api("POST", "/groups/lab-team/users", json={"users": ["ned"]}).status_code == 200
    started(dash_hub, "ned", "ned-one")
    admin = people("admin")
    dashboard(admin, dash_hub)
    admin.get_by_role("link", name="Use and budgets").click()
    ned = admin.locator('tr[data-user="ned"]')
    expect(ned).to_contain_text("lab-team")
    expect(ned).to_contain_text("1 of 3 running workspaces in use (group lab-team)")
    team = admin.locator('tr[data-group="lab-team"]')
    expect(team).to_contain_text("1 in use (each: 3)")
    admin.screenshot(path=str(artifacts / "dashboard-usage.png"), full_page=True)
    assert dash_hub.ws("DELETE", "/workspaces/ned/ned-one", token=dash_hub.user_token("ned")).status_code in (202, 204)



# -- sharing ---------------------------------------------------------------------------------------

NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
               "source": ["print(6 * 7)"]}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def opens_and_runs_a_cell(page: Page, url: str) -> None:
    """In a workspace's JupyterLab, run the notebook's one cell and see its output."""
    page.goto(url)
    authorize = page.get_by_role("button", name="Authorize")
    # the hub asks once before someone else's server may know who the person is
    authorize.or_(page.locator(".jp-Notebook")).first.wait_for(timeout=90_000)
    if authorize.count():
        authorize.click()
    cell = page.locator(".jp-Notebook .jp-Cell").first
    cell.wait_for(timeout=90_000)
    # the kernel is up and connected: the status bar says so
    expect(page.get_by_text(re.compile(r"^Python 3 \(ipykernel\) \| Idle$"))).to_be_visible(timeout=60_000)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-OutputArea-output")).to_have_text("42", timeout=30_000)


def refused(page: Page, url: str) -> None:
    """The hub or the server says no: a 403 page, never JupyterLab."""
    response = page.goto(url)
    assert response is not None and response.status in (403, 404), (url, response and response.status)
    expect(page.locator(".jp-Notebook")).to_have_count(0)


def test_bob_works_in_alices_shared_workspace_until_she_revokes_it_and_carol_never_can(
    dash_hub: Hub, people, artifacts: Path, expiring_link: dict
):
    for user in ("alice", "bob", "carol"):
        dash_hub.user_token(user)
    alice_token = dash_hub.user_token("alice")
    r = dash_hub.ws("POST", "/workspaces", token=alice_token, json={"name": "shared-lab"}, timeout=60)
    assert r.status_code == 201, r.text
    shares = "/workspaces/alice/shared-lab/shares"
    dash_hub.wait_ready("alice", "shared-lab")
    folder = dash_hub.workspace_folder("alice", "shared-lab")
    notebook = folder / "check.ipynb"
    notebook.write_text(json.dumps(NOTEBOOK))
    os.chown(notebook, folder.stat().st_uid, folder.stat().st_gid)  # Alice's, as her own files are
    lab = f"{dash_hub.url}/user/alice/shared-lab/lab/tree/check.ipynb"

    # Alice shares it with Bob from the dashboard, and makes a link
    alice = people("alice")
    dashboard(alice, dash_hub)
    row(alice, "shared-lab").get_by_role("button", name="Share shared-lab").click()
    dialog = alice.get_by_role("dialog")
    dialog.get_by_placeholder("name").fill("bob")
    dialog.get_by_role("button", name="Share", exact=True).click()
    expect(dialog.locator(".share-list")).to_contain_text("User bob")
    dialog.get_by_role("button", name="Create link").click()
    link = dialog.get_by_label("Share link")
    expect(link).to_have_value(re.compile(r"/hub/accept-share\?code="))
    dialog.screenshot(path=str(artifacts / "share-dialog.png"))
    accept_url = link.input_value()

    # Bob finds it under "Shared with me" and runs a cell in it; he cannot share it on
    bob = people("bob")
    dashboard(bob, dash_hub)
    shared = bob.locator('tr[data-shared="alice/shared-lab"]')
    expect(shared.get_by_role("link", name="Open alice/shared-lab")).to_have_attribute("href", "/user/alice/shared-lab/")
    opens_and_runs_a_cell(bob, lab)
    bob_token = dash_hub.user_token("bob")
    assert dash_hub.ws("POST", shares, token=bob_token, json={"user": "carol"}).status_code == 404
    assert dash_hub.ws("POST", shares, token=bob_token, json={"code": {}}).status_code == 404

    # Carol, with no share, never gets in
    carol = people("carol")
    refused(carol, lab)
    assert dash_hub.ws("GET", shares, token=dash_hub.user_token("carol")).status_code == 404

    # Alice revokes Bob: a new session of his is refused
    dialog.get_by_role("button", name="Revoke User bob").click()
    expect(dialog.locator(".share-list")).not_to_contain_text("User bob")
    bob.context.close()
    bob = people("bob")
    refused(bob, lab)

    # ... and through the link he accepts, he is in again, until she revokes that too
    bob.goto(accept_url)
    bob.get_by_role("button", name=re.compile("Accept")).click()
    opens_and_runs_a_cell(bob, lab)
    # the link revoked in the dialog leaves the screen with its Copy button (it no longer works)
    dialog.get_by_role("button", name=re.compile(r"^Revoke Link ")).click()
    expect(dialog.get_by_label("Share link")).to_have_count(0)
    assert dash_hub.ws("GET", shares, token=alice_token).json()["codes"] == []
    assert dash_hub.ws("DELETE", shares, token=alice_token, json={"all": True}).status_code == 204
    bob.context.close()
    bob = people("bob")
    refused(bob, lab)

    # a link past its expiry lets nobody in
    def expired() -> bool:
        codes = dash_hub.ws("GET", "/workspaces/alice/linked/shares", token=alice_token).json()["codes"]
        return all(c["id"] != expiring_link["id"] for c in codes)

    wait_for(expired, 75, "the one-minute share link to expire")
    response = bob.goto(f"{dash_hub.url}{expiring_link['accept_url']}")
    assert response is not None and response.status == 404
    assert dash_hub.ws("GET", "/shared", token=dash_hub.user_token("bob")).json()["items"] == []
    assert dash_hub.ws("DELETE", "/workspaces/alice/shared-lab", token=alice_token).status_code in (202, 204)
