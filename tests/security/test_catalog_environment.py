"""A catalog admin reading the hub's files through ``local.environment``, attacked.

``local.environment`` names a pip requirements file that the hub's account (root under
``local.isolation: users``) hands to pip, and pip echoes a line it cannot install in its ERROR
output, which the start's failure message shows: ``/etc/shadow`` named there came back as its
first line. A catalog admin (``custom:workspaces:catalog``) need not be the machine's operator,
so the API refuses to set it: only the catalog file on the machine does; an API edit may send
the entry's own back unchanged. The admin token of the session's hub is a catalog admin.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from ..support.hub import Hub

pytestmark = pytest.mark.hub

SHADOW = "/etc/shadow"
ATTACK = {"id": "env-attack", "display_name": "Attack", "image": "example.org/attack:1",
          "local": {"environment": SHADOW}}


@pytest.fixture(scope="module")
def file_entry(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """An entry whose environment the catalog file sets (the operator's), as the API shows it,
    while this module runs (the API reads the catalog file again when it changes)."""
    requirements = tmp_path_factory.mktemp("env") / "requirements.txt"
    requirements.write_text("numpy\n")
    before = hub.catalog_file.read_text()
    edits = hub.data_dir / "catalog-edits.yaml"
    edits_before = edits.read_bytes() if edits.exists() else None
    catalog = yaml.safe_load(before)
    catalog["images"].append({"id": "env-team", "display_name": "Team", "image": "example.org/team:1",
                              "local": {"environment": str(requirements)}})
    hub.catalog_file.write_text(yaml.safe_dump(catalog))
    try:
        r = hub.ws("GET", "/images/env-team")
        assert r.status_code == 200, r.text
        yield r.json()
    finally:  # the catalog and the admins' edits as they were
        if edits_before is None:
            edits.unlink(missing_ok=True)
        else:
            edits.write_bytes(edits_before)
        hub.catalog_file.write_text(before)


def editable(shown: dict) -> dict:
    """An entry as the API showed it, as an edit sends it back (without what the API derives)."""
    keys = ("id", "display_name", "description", "image", "kind", "gpu", "default", "groups", "hidden",
            "pull_policy", "local")
    return {k: shown[k] for k in keys if shown.get(k) is not None}


def catalog_state(hub: Hub) -> tuple[list[dict], bytes | None]:
    """The catalog as the API serves it, and the admins' edits file."""
    edits = hub.data_dir / "catalog-edits.yaml"
    return hub.ws("GET", "/images").json()["items"], edits.read_bytes() if edits.exists() else None


def refused_for_environment(r) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert [f["path"] for f in error["fields"]] == ["local.environment"]
    assert "catalog file" in error["message"] and "local.requirements" in error["message"]


def test_a_catalog_admin_cannot_add_an_entry_that_names_a_root_only_file(hub, file_entry):
    before = catalog_state(hub)
    refused_for_environment(hub.ws("POST", "/images", json=ATTACK))
    assert catalog_state(hub) == before
    assert hub.ws("GET", "/images/env-attack").status_code == 404


def test_a_catalog_admin_cannot_point_an_entry_at_a_root_only_file(hub, file_entry):
    before = catalog_state(hub)
    for image_id in ("lab", "env-team"):  # an entry without an environment, and one with the operator's
        shown = hub.ws("GET", f"/images/{image_id}").json()
        body = editable(shown)
        body["local"] = {**(shown["local"] or {}), "environment": SHADOW}
        body["local"].pop("python", None)  # an environment builds on the hub's Python (python: default)
        refused_for_environment(hub.ws("PUT", f"/images/{image_id}", json=body))
    assert catalog_state(hub) == before


def test_an_edit_that_sends_the_entrys_own_environment_back_still_works(hub, file_entry):
    body = {**editable(file_entry), "display_name": "Team, renamed"}
    r = hub.ws("PUT", "/images/env-team", json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["display_name"], r.json()["local"]) == ("Team, renamed", file_entry["local"])
    r = hub.ws("POST", "/images/env-team/deprecate", json={"message": "Use lab."})
    assert r.status_code == 200 and r.json()["local"] == file_entry["local"], r.text
