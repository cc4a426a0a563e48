"""Deprecated catalog entries that name their successor: loading, the API's offer, the spawn form."""

from pathlib import Path

import pytest

from spawner.form import render_options_form
from workspaces.api.model import image_update
from workspaces.catalog import Catalog, ImageEntry, Profile, load_catalog
from workspaces.config import load_config
from workspaces.errors import ConfigError

IMAGES = """\
images:
  - id: lab-2024
    display_name: Lab 2024
    image: example.org/lab:2024
    deprecated: {message: "2024 is going away.", use: lab-2025}
    local: {python: default}
  - id: lab-2025
    display_name: Lab 2025
    image: example.org/lab:2025
    local: {python: default}
  - id: old
    display_name: Old
    image: example.org/old:1
    deprecated: true
"""


def load(tmp_path: Path, images: str = IMAGES) -> Catalog:
    (tmp_path / "catalog.yaml").write_text(images)
    (tmp_path / "workspaces.yaml").write_text("catalog: catalog.yaml\n")
    return load_catalog(load_config(tmp_path / "workspaces.yaml"))


def issues(tmp_path: Path, images: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, images)
    return info.value.lines()


@pytest.mark.parametrize(
    ("written", "message"),
    [("true", "This image is deprecated."), ("'Use lab-2025.'", "Use lab-2025."), ("{use: lab-2025}", "This image is deprecated.")],
)
def test_deprecated_takes_true_a_message_or_a_mapping(tmp_path, written, message):
    catalog = load(tmp_path, IMAGES.replace("deprecated: true", f"deprecated: {written}"))
    assert catalog.image("old").deprecated.message == message


def test_false_means_not_deprecated(tmp_path):
    assert load(tmp_path, IMAGES.replace("deprecated: true", "deprecated: false")).image("old").deprecated is None


def test_a_successor_is_found_by_its_id(tmp_path):
    catalog = load(tmp_path)
    assert catalog.successor(catalog.image("lab-2024")).id == "lab-2025"
    assert catalog.successor(catalog.image("old")) is None


def test_successors_are_followed_to_the_last_one(tmp_path):
    chained = IMAGES.replace("deprecated: true", "deprecated: {message: Gone., use: lab-2024}")
    catalog = load(tmp_path, chained)
    assert catalog.successor(catalog.image("old")).id == "lab-2025"


def test_a_successor_that_is_not_in_the_catalog_is_refused(tmp_path):
    [line] = issues(tmp_path, IMAGES.replace("use: lab-2025", "use: lab-2026"))
    assert line.endswith(
        "images[0].deprecated.use: unknown image 'lab-2026'; ids in this catalog: lab-2024, lab-2025, old (entry 'lab-2024')"
    )


def test_an_entry_cannot_succeed_itself(tmp_path):
    [line] = issues(tmp_path, IMAGES.replace("use: lab-2025", "use: lab-2024"))
    assert line.endswith("images[0].deprecated.use: names the entry itself; name the entry that replaces 'lab-2024' (entry 'lab-2024')")


def test_successors_in_a_circle_are_refused(tmp_path):
    circle = IMAGES.replace("deprecated: true", "deprecated: {message: Gone., use: lab-2024}").replace(
        "use: lab-2025", "use: old"
    )
    lines = issues(tmp_path, circle)
    assert lines[0].endswith("images[0].deprecated.use: successors go round in a circle: lab-2024 -> old -> lab-2024 (entry 'lab-2024')")


def test_a_deprecation_with_an_unknown_key_is_refused(tmp_path):
    [line] = issues(tmp_path, IMAGES.replace("use: lab-2025", "redirect: lab-2025"))
    assert "images[0].deprecated.redirect" in line and "message, use" in line


CATALOG = Catalog(
    images=(
        ImageEntry(id="lab-2024", display_name="Lab 2024", image="x", local={"python": "default"},
                   deprecated={"message": "2024 is going away.", "use": "lab-2025"}),
        ImageEntry(id="lab-2025", display_name="Lab 2025", image="x", local={"python": "default"}),
        ImageEntry(id="team-2024", display_name="Team 2024", image="x", local={"python": "default"},
                   deprecated={"message": "Moved.", "use": "team-2025"}),
        ImageEntry(id="team-2025", display_name="Team 2025", image="x", groups=["team"], local={"python": "default"}),
        ImageEntry(id="gpu-2024", display_name="GPU 2024", image="x", local={"python": "default"},
                   deprecated={"message": "Moved.", "use": "gpu-2025"}),
        ImageEntry(id="gpu-2025", display_name="GPU 2025", image="x"),  # no local runtime
    ),
    profiles=(Profile(id="s", display_name="S", default=True),),
)


def test_a_workspace_on_a_deprecated_image_is_offered_its_successor():
    assert image_update({"image": "lab-2024"}, CATALOG, []) == {
        "use": "lab-2025", "display_name": "Lab 2025", "message": "2024 is going away."
    }
    assert image_update({"image": "lab-2025"}, CATALOG, []) is None


def test_a_successor_the_owner_may_not_use_is_not_offered():
    assert image_update({"image": "team-2024"}, CATALOG, ["other"]) is None
    assert image_update({"image": "team-2024"}, CATALOG, ["team"])["use"] == "team-2025"


def test_a_successor_that_cannot_run_on_this_backend_is_not_offered():
    assert image_update({"image": "gpu-2024"}, CATALOG, [], "local") is None
    assert image_update({"image": "gpu-2024"}, CATALOG, [], "kubernetes")["use"] == "gpu-2025"


def test_the_spawn_form_preselects_the_successor_and_says_what_replaces_the_old_image():
    html = render_options_form(CATALOG, [], "local", {"image": "lab-2024", "profile": "s"})
    assert 'name="image" value="lab-2025" aria-describedby="image-lab-2025-desc"\n               checked' in html
    assert "Deprecated: 2024 is going away. Replaced by Lab 2025." in html
