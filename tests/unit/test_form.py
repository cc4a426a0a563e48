"""The spawn form, rendered from a catalog."""

import re

from spawner.base import spec_from_form
from spawner.form import render_options_form
from workspaces.capacity import local_capacity
from workspaces.catalog import Catalog, ImageEntry, Profile

import pytest
from tornado import web

CATALOG = Catalog(
    images=(
        ImageEntry(id="lab", display_name="Lab", image="x", local={"python": "default"}),
        ImageEntry(id="main", display_name="Main", image="x", default=True, local={"python": "default"}),
        ImageEntry(id="evil", display_name="<script>alert(1)</script>", description="<b>bold</b>", image="x",
                   local={"python": "default"}),
        ImageEntry(id="secret", display_name="Secret", image="x", groups=["team"], local={"python": "default"}),
        ImageEntry(id="gone", display_name="Gone", image="x", hidden=True, local={"python": "default"}),
        ImageEntry(id="ide", display_name="IDE", image="x", kind="vscode"),
    ),
    profiles=(
        Profile(id="s", display_name="S", cpu={"limit": 1}, memory={"limit": "2Gi"}),
        Profile(id="g", display_name="G", gpu={"count": 1}, default=True),
    ),
)


def checked(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]+)"[^>]*\bchecked\b', html)


def test_defaults_are_preselected():
    html = render_options_form(CATALOG, [], "local")
    assert checked(html, "image") == ["main"]
    assert checked(html, "profile") == ["g"]


def test_previous_spec_is_preselected():
    html = render_options_form(CATALOG, [], "local", {"image": "lab", "profile": "s"})
    assert checked(html, "image") == ["lab"] and checked(html, "profile") == ["s"]


def test_a_previous_choice_no_longer_on_offer_falls_back_to_the_default():
    html = render_options_form(CATALOG, [], "local", {"image": "secret", "profile": "gone"})
    assert checked(html, "image") == ["main"] and checked(html, "profile") == ["g"]


def test_catalog_text_is_escaped():
    html = render_options_form(CATALOG, [], "local")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_group_restricted_and_hidden_images_are_not_shown():
    html = render_options_form(CATALOG, [], "local")
    assert "Secret" not in html and "Gone" not in html
    assert "Secret" in render_options_form(CATALOG, ["team"], "local")


def test_unavailable_images_are_disabled_with_the_reason():
    html = render_options_form(CATALOG, [], "local")
    assert re.search(r'value="ide"[^>]*\bdisabled\b', html)
    assert "Unavailable on the local backend: no local runtime" in html


def test_profiles_show_their_size_and_whether_they_can_start_now():
    html = render_options_form(CATALOG, [], "local", capacity={"g": local_capacity(1, 4, 1)})
    assert "1 CPU, 2 GiB" in html and "1 GPU" in html
    assert "3 GPUs free" in html


def test_a_profile_whose_gpus_are_all_in_use_says_so_and_stays_selectable():
    html = render_options_form(CATALOG, [], "local", capacity={"g": local_capacity(1, 4, 4)})
    assert "no GPU free: 4 of 4 in use" in html
    assert not re.search(r'value="g"[^>]*\bdisabled\b', html)


def test_the_namespaces_quotas_are_shown():
    html = render_options_form(CATALOG, [], "kubernetes", quotas=["team-budget: pods 1 of 10 used"])
    assert "Quota team-budget: pods 1 of 10 used" in html


def test_every_input_has_a_label():
    html = render_options_form(CATALOG, [], "local")
    assert html.count("<input") == html.count('<label class="ws-card"')


def test_form_data_becomes_a_spec():
    assert spec_from_form({"image": ["lab"], "profile": ["s"]}) == {"image": "lab", "profile": "s"}
    assert spec_from_form({"gpus": ["2"]}) == {"gpus": 2}
    assert spec_from_form({}) == {}


def test_bad_gpu_count_in_form_is_a_400():
    with pytest.raises(web.HTTPError) as info:
        spec_from_form({"gpus": ["two"]})
    assert info.value.status_code == 400


def test_gpu_profiles_the_machine_cannot_serve_are_disabled():
    html = render_options_form(CATALOG, [], "local", capacity={"g": local_capacity(1, 0, 0)})
    assert re.search(r'value="g"[^>]*\bdisabled\b', html)
    assert "Unavailable: needs 1 GPU(s), this machine has 0" in html
    assert checked(html, "profile") == []  # the default cannot be preselected


def test_user_options_of_the_wrong_type_do_not_break_the_form():
    # PATCH /hub/api/users/{u}/servers/{s} stores any JSON object as user_options
    html = render_options_form(CATALOG, [], "local", {"image": ["lab"], "profile": {"x": 1}})
    assert checked(html, "image") == ["main"] and checked(html, "profile") == ["g"]
