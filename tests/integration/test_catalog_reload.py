"""Admins edit the catalog and profiles while the hub runs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ..support.hub import Hub, wait_for

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def reload_hub(tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("reload")).start()
    try:
        yield h
    finally:
        h.shutdown()


def edit(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text)
    # make a same-second edit visible to mtime checks
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_a_new_image_shows_in_the_form_without_restart(reload_hub: Hub):
    original = reload_hub.catalog_file.read_text()
    edit(
        reload_hub.catalog_file,
        original + "  - {id: fresh, display_name: Freshly Added, image: x, local: {python: default}}\n",
    )
    assert "Freshly Added" in reload_hub.spawn_form("kim", "w")
    r = reload_hub.api("POST", "/users/kim/servers/check", token=reload_hub.user_token("kim"), json={"image": "nope"})
    assert "fresh" in r.json()["message"]  # the API uses the same catalog


def test_a_profile_edit_shows_in_the_form_without_restart(reload_hub: Hub):
    original = reload_hub.profiles_file.read_text()
    edit(reload_hub.profiles_file, original.replace("display_name: Medium", "display_name: Medium Plus"))
    assert "Medium Plus" in reload_hub.spawn_form("kim", "w")


def test_an_invalid_edit_keeps_the_last_good_catalog_and_is_logged(reload_hub: Hub):
    good = reload_hub.catalog_file.read_text()
    edit(reload_hub.catalog_file, good.replace("kind: vscode", "kind: emacs"))
    form = reload_hub.spawn_form("kim", "w")
    assert "Test Lab" in form and "VS Code" in form

    expected = f"{reload_hub.catalog_file}: images[4].kind: must be one of: 'jupyterlab', 'vscode', 'rstudio' (entry 'code-server')"
    line = wait_for(
        lambda: next((l for l in reload_hub.log().splitlines() if "Catalog not reloaded" in l), None),
        10,
        "the reload error in the hub log",
    )
    assert expected in line
    # starts keep working on the last good catalog
    reload_hub.start_workspace("kim", "still-works", {"image": "lab"})
    reload_hub.api("DELETE", "/users/kim/servers/still-works")
    reload_hub.wait_stopped("kim", "still-works")

    edit(reload_hub.catalog_file, good)
    time.sleep(0.1)
    assert "VS Code" in reload_hub.spawn_form("kim", "w")
