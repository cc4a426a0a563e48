"""Images users bring: references that try to run something the admin's patterns do not allow.

The catalog allows ``registry.example.org/team/*``; every reference below must be
refused with a 400-worthy spec issue naming the allowed patterns, by the one place
that validates specs (``resolve_spec``, which the API and the hub's spawner both call).
"""

import pytest

from workspaces.catalog import Catalog, ImageEntry, Profile
from workspaces.custom_images import CustomImages
from workspaces.spec import SpecError, resolve_spec

ALLOWED = "registry.example.org/team/*"
IMAGES = (ImageEntry(id="lab", display_name="Lab", image="example.org/lab:1", default=True),)
PROFILES = (Profile(id="small", display_name="Small", default=True),)
ALLOWING = Catalog(IMAGES, PROFILES, CustomImages(allow=[ALLOWED]))


def refusal(reference: str, catalog: Catalog = ALLOWING) -> str:
    with pytest.raises(SpecError) as info:
        resolve_spec({"custom_image": reference}, catalog, backend="kubernetes")
    [issue] = info.value.issues
    assert issue.path == "custom_image"
    return issue.message


@pytest.mark.parametrize(
    "reference",
    [
        "registry.example.org/team/../x",  # path traversal out of team/
        "registry.example.org/team/./x",
        "registry.example.org/team/x/../../admin/x",
        "registry.example.org/team//x",
        "registry.example.org/team/x\n",  # the parser's '$' would accept a trailing newline
        " registry.example.org/team/x",
        "registry.example.org/t\u0435am/x",  # Cyrillic e
        "registry.example.org/\uff54eam/x",  # fullwidth t
        "registry.example.org/Team/x",
        "registry.example.org/team/x@sha256:abc",  # a digest must be a whole digest
        "registry.example.org/team/x:tag@sha256:",
    ],
)
def test_a_reference_outside_the_grammar_is_refused_before_any_pattern_sees_it(reference):
    message = refusal(reference)
    assert "not an image reference" in message and f"allowed patterns: {ALLOWED}" in message


@pytest.mark.parametrize(
    "reference",
    [
        "registry.example.org/team.evil.com/x",  # a look-alike first component
        "registry.example.org/team-evil/x",
        "registry.example.org/teamx",
        "registry.example.org/team/x/y",  # '*' does not cross '/'
        "registry.example.org/other/team/x",
        "registry.example.org.evil.com/team/x",  # the pattern on another registry host
        "evil.com/registry.example.org/team/x",
        "REGISTRY.EXAMPLE.ORG/team/x",  # the host is compared as written
        "registry.example.org:5000/team/x",  # another port is another registry
        "other.example.org/team/x",
    ],
)
def test_a_reference_that_escapes_the_allowed_pattern_is_refused_with_the_patterns(reference):
    assert refusal(reference) == f"{reference!r} matches no allowed pattern; allowed patterns: {ALLOWED}"


@pytest.mark.parametrize("reference", ["team/x", "registry/team/x", "library/ubuntu"])
def test_a_reference_without_a_registry_host_is_refused(reference):
    assert "name the registry host" in refusal(reference)


def test_without_custom_images_in_the_catalog_every_custom_reference_is_refused():
    off = Catalog(IMAGES, PROFILES)
    assert refusal("registry.example.org/team/x", off) == (
        "custom images are not allowed on this hub; pick an image of the catalog"
    )


def test_an_allowed_reference_with_a_tag_and_digest_runs_exactly_as_written():
    reference = "registry.example.org/team/x:1@sha256:" + "ab" * 32
    resolved = resolve_spec({"custom_image": reference}, ALLOWING, backend="kubernetes")
    assert resolved.image.image == reference
