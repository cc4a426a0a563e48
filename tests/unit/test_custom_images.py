"""Images users bring: the reference grammar, the allow patterns, and the spec's custom_image."""

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from workspaces.api.app import OPENAPI
from workspaces.catalog import Catalog, ImageEntry, Profile, load_catalog
from workspaces.config import load_config
from workspaces.custom_images import CustomImages, ImageRefError, parse_reference
from workspaces.errors import ConfigError
from workspaces.spec import SpecError, custom_images_offer, resolve_spec

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("registry.example.org/team/x", ("registry.example.org", "team/x", None, None)),
        ("registry.example.org:5000/team/x:1.2", ("registry.example.org:5000", "team/x", "1.2", None)),
        (f"registry.example.org/team/x@{DIGEST}", ("registry.example.org", "team/x", None, DIGEST)),
        (f"localhost/x:dev@{DIGEST}", ("localhost", "x", "dev", DIGEST)),
    ],
)
def test_a_reference_is_split_as_the_distribution_grammar_does(text, parts):
    ref = parse_reference(text)
    assert (ref.host, ref.path, ref.tag, ref.digest) == parts and str(ref) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("team/x", "name the registry host"),
        ("ubuntu:24.04", "name the registry host"),
        ("registry.example.org/Team/x", "not an image reference (repository name must be lowercase)"),
        ("registry.example.org/team/x:", "not an image reference (invalid reference format)"),
        ("registry.example.org/team/x@sha256:abc", "not an image reference (invalid reference format)"),
    ],
)
def test_what_is_not_a_fully_qualified_reference_says_why(text, reason):
    with pytest.raises(ImageRefError) as info:
        parse_reference(text)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("*.example.org/team/*", "the registry host must be written out"),
        ("registry.example.org/team/**", "'**' is not supported"),
        ("registry.example.org/team/*:latest", "leave out the tag or digest"),
        ("team/*", "name the registry host"),
    ],
)
def test_a_bad_allow_pattern_is_refused_with_the_reason(pattern, problem):
    with pytest.raises(ValueError) as info:
        CustomImages(allow=[pattern])
    assert problem in str(info.value)


def test_star_matches_within_one_path_component_and_any_tag_or_digest():
    allow = CustomImages(allow=["registry.example.org/team/*", "registry.example.org/ml/lab-*"])
    for good in ("registry.example.org/team/x", "registry.example.org/team/x:2", f"registry.example.org/team/x@{DIGEST}",
                 "registry.example.org/ml/lab-gpu"):
        assert str(allow.check(good)) == good
    for bad in ("registry.example.org/team/x/y", "registry.example.org/team", "registry.example.org/ml/lab"):
        with pytest.raises(ImageRefError, match="matches no allowed pattern"):
            allow.check(bad)


def test_custom_images_sit_beside_the_entries_in_the_images_file(tmp_path: Path):
    (tmp_path / "catalog.yaml").write_text(
        "images:\n  - {id: lab, display_name: Lab, image: example.org/lab:1}\n"
        "custom_images:\n  allow: ['registry.example.org/team/*']\n"
    )
    (tmp_path / "workspaces.yaml").write_text("catalog: catalog.yaml\n")
    catalog = load_catalog(load_config(tmp_path / "workspaces.yaml"))
    assert catalog.custom_images.allow == ["registry.example.org/team/*"]


def test_a_bad_pattern_in_the_images_file_is_one_line_naming_it(tmp_path: Path):
    (tmp_path / "catalog.yaml").write_text(
        "images:\n  - {id: lab, display_name: Lab, image: example.org/lab:1}\ncustom_images: {allow: ['team/*']}\n"
    )
    (tmp_path / "workspaces.yaml").write_text("catalog: catalog.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_catalog(load_config(tmp_path / "workspaces.yaml"))
    [line] = info.value.lines()
    assert line.startswith(f"{tmp_path / 'catalog.yaml'}: custom_images.allow") and "'team/*'" in line


CATALOG = Catalog(
    images=(ImageEntry(id="lab", display_name="Lab", image="example.org/lab:1", default=True),),
    profiles=(Profile(id="small", display_name="Small", default=True),
              Profile(id="gpu", display_name="GPU", gpu={"count": 1})),
    custom_images=CustomImages(allow=["registry.example.org/team/*"]),
)


def test_a_custom_image_runs_its_reference_with_the_entry_less_defaults():
    resolved = resolve_spec({"custom_image": "registry.example.org/team/x:1"}, CATALOG, backend="kubernetes")
    image = resolved.image
    assert (image.image, image.kind, image.security.run_as_root, image.security.capabilities) == (
        "registry.example.org/team/x:1", "jupyterlab", False, []
    )
    assert resolved.user_options() == {"custom_image": "registry.example.org/team/x:1", "profile": "small"}


def test_a_custom_image_may_take_the_profiles_gpus():
    resolved = resolve_spec({"custom_image": "registry.example.org/team/x", "profile": "gpu"}, CATALOG, backend="kubernetes")
    assert resolved.gpus == 1


def test_the_local_backend_refuses_custom_images_with_the_reason():
    with pytest.raises(SpecError) as info:
        resolve_spec({"custom_image": "registry.example.org/team/x"}, CATALOG, backend="local")
    assert [str(i) for i in info.value.issues] == [
        "custom_image: the local backend runs no containers; custom images need the kubernetes backend"
    ]


def test_image_and_custom_image_together_are_refused():
    with pytest.raises(SpecError, match="set image .* or custom_image .*, not both"):
        resolve_spec({"image": "lab", "custom_image": "registry.example.org/team/x"}, CATALOG, backend="kubernetes")


INFO_FIELD = json.loads(OPENAPI.read_text())["components"]["schemas"]["Info"]["properties"]["custom_images"]


@pytest.mark.parametrize("backend", ["local", "kubernetes"])
@pytest.mark.parametrize("allow", [[], ["registry.example.org/team/*"]])
def test_info_tells_a_form_the_patterns_and_refuses_custom_images_as_a_create_would(allow, backend):
    # GET /info's custom_images: refused is null exactly where an allowed reference is taken
    catalog = replace(CATALOG, custom_images=CustomImages(allow=allow))
    offer = custom_images_offer(catalog, backend)
    jsonschema.validate(offer, INFO_FIELD)
    try:
        resolve_spec({"custom_image": "registry.example.org/team/x"}, catalog, backend=backend)
        refusal = None
    except SpecError as e:
        [issue] = e.issues
        refusal = issue.message
    assert offer == {"allow": allow, "refused": refusal}
    assert (refusal is None) == (backend == "kubernetes" and bool(allow))
