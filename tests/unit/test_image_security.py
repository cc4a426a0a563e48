"""An image's catalog entry says what it needs beyond Pod Security "restricted", checked like every other field."""

from __future__ import annotations

import json

import jsonschema
import pytest
from pydantic import ValidationError

from workspaces.api.app import OPENAPI
from workspaces.api.model import image_json
from workspaces.catalog import ImageEntry
from workspaces.errors import issues_from_pydantic

ENTRY = {"id": "debug", "display_name": "Debugger", "image": "example.org/debug:1"}


def issues(security: object) -> list[str]:
    with pytest.raises(ValidationError) as info:
        ImageEntry.model_validate({**ENTRY, "security": security})
    return [str(i) for i in issues_from_pydantic(info.value, ImageEntry, ("images", 0))]


def test_an_image_needs_nothing_beyond_restricted_unless_it_says_so():
    security = ImageEntry.model_validate(ENTRY).security
    assert (security.run_as_root, security.capabilities) == (False, [])
    assert security.needs() == 'nothing beyond Pod Security "restricted"'


def test_an_image_says_it_runs_as_root_and_adds_capabilities():
    security = ImageEntry.model_validate({**ENTRY, "security": {"run_as_root": True, "capabilities": ["SYS_PTRACE"]}}).security
    assert security.needs() == "to run as root and the capabilities SYS_PTRACE"


@pytest.mark.parametrize(
    "security, issue",
    [
        ({"capabilities": ["CAP_SYS_ADMIN"]}, "images[0].security.capabilities[0]: write 'SYS_ADMIN': capability names go without CAP_"),
        ({"capabilities": ["ALL"]}, "images[0].security.capabilities[0]: ALL would add every capability; name the ones the image needs"),
        ({"capabilities": ["net admin"]}, "images[0].security.capabilities[0]: 'net admin' is not a Linux capability name such as NET_ADMIN or SYS_PTRACE"),
        ({"capabilities": ["NET_ADMIN\n"]}, "images[0].security.capabilities[0]: 'NET_ADMIN\\n' is not a Linux capability name such as NET_ADMIN or SYS_PTRACE"),
        ({"run_as_root": "maybe"}, "images[0].security.run_as_root: must be true or false, not a string"),
        ({"privileged": True}, "images[0].security.privileged: unknown key; allowed keys: run_as_root, capabilities"),
    ],
)
def test_a_bad_security_entry_is_refused_naming_the_field(security, issue):
    assert issues(security) == [issue]


def test_catalog_admins_see_an_images_security_needs_as_the_api_documents_them():
    # the dashboard and the CLI edit an image by sending back what they were shown: nothing may get lost
    image = ImageEntry.model_validate({**ENTRY, "security": {"capabilities": ["SYS_PTRACE"]}})
    shown = image_json(image, "kubernetes", admin=True)
    assert shown["security"] == {"run_as_root": False, "capabilities": ["SYS_PTRACE"]}
    document = json.loads(OPENAPI.read_text())
    jsonschema.validate(shown, {**document["components"]["schemas"]["Image"], "components": document["components"]})
    assert "security" not in image_json(image, "kubernetes", admin=False)
