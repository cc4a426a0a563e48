"""Admins' catalog edits: applied over the catalog file by id, validated as one catalog."""

from pathlib import Path

import pytest

from workspaces.catalog import load_catalog
from workspaces.catalog_edits import apply_edits, read_edits, write_edits
from workspaces.config import load_config
from workspaces.errors import ConfigError

BASE = [{"id": "a", "display_name": "A", "image": "x/a"}, {"id": "b", "display_name": "B", "image": "x/b"}]


def test_edits_replace_by_id_remove_and_append_in_order():
    edits = {"images": [{"id": "b", "display_name": "B2", "image": "x/b2"}, {"id": "c", "display_name": "C", "image": "x/c"}], "removed": ["a"]}
    assert [(e["id"], e["display_name"]) for e in apply_edits(BASE, edits)] == [("b", "B2"), ("c", "C")]


def test_no_file_means_no_edits(tmp_path):
    assert read_edits(tmp_path / "missing.yaml") == {"images": [], "removed": []}


def test_written_edits_read_back(tmp_path):
    edits = {"images": [{"id": "c", "display_name": "C", "image": "x/c"}], "removed": ["b", "a", "b"]}
    write_edits(tmp_path / "edits.yaml", edits)
    assert read_edits(tmp_path / "edits.yaml") == {"images": edits["images"], "removed": ["a", "b"]}


def config(tmp_path: Path) -> Path:
    (tmp_path / "catalog.yaml").write_text("images:\n  - {id: a, display_name: A, image: x/a, default: true}\n")
    (tmp_path / "profiles.yaml").write_text("profiles:\n  - {id: p, display_name: P}\n")
    path = tmp_path / "workspaces.yaml"
    path.write_text("catalog: catalog.yaml\nprofiles: profiles.yaml\n")
    return path


def test_the_catalog_in_force_has_the_edits(tmp_path):
    write_edits(tmp_path / "edits.yaml", {"images": [{"id": "c", "display_name": "C", "image": "x/c"}], "removed": []})
    catalog = load_catalog(load_config(config(tmp_path)), tmp_path / "edits.yaml")
    assert [i.id for i in catalog.images] == ["a", "c"]


def test_edits_that_break_the_catalog_are_reported_with_the_file(tmp_path):
    write_edits(tmp_path / "edits.yaml", {"images": [{"id": "c", "display_name": "C", "image": "x/c", "default": True}], "removed": []})
    with pytest.raises(ConfigError) as info:
        load_catalog(load_config(config(tmp_path)), tmp_path / "edits.yaml")
    assert "edits.yaml" in info.value.lines()[0] and "only one entry may be the default" in info.value.lines()[0]
