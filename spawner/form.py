"""The spawn form: catalog cards for images and profiles, defaults preselected.

Rendered with Jinja2 autoescaping, so catalog text is never markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from workspaces.capacity import Capacity
from workspaces.catalog import Catalog

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
)


def render_options_form(
    catalog: Catalog,
    groups: Iterable[str],
    backend: str,
    previous: Mapping[str, Any] | None = None,
    capacity: Mapping[str, Capacity] | None = None,
    **extra: Any,
) -> str:
    """The form for someone in ``groups``; ``previous`` is the last spec, preselected.

    ``capacity`` (profile id -> workspaces.capacity.Capacity) is shown on each
    profile's card; one that can never start here is disabled, with the reason.
    """
    groups = list(groups)
    previous = previous or {}
    images = [i for i in catalog.images if i.allows(groups) and not i.hidden]
    profiles = catalog.profiles_for(groups)
    default_image = catalog.default_image(groups, backend)
    default_profile = catalog.default_profile(groups)
    # the last spec is preselected only if it is still on offer
    # (user_options can be anything JSON: PATCH .../servers/{name} stores it unchecked)
    runnable = {i.id for i in images if i.unavailable_reason(backend) is None}
    image, profile = previous.get("image"), previous.get("profile")
    selected_image = image if isinstance(image, str) and image in runnable else None
    # a deprecated image with a successor: the form offers the switch by preselecting it
    previous_entry = catalog.image(image) if isinstance(image, str) else None
    successor = catalog.successor(previous_entry) if previous_entry else None
    if successor is not None and successor.id in runnable and successor.allows(groups):
        selected_image = successor.id
    capacity = capacity or {}
    startable = {p.id for p in profiles if p.id not in capacity or capacity[p.id].possible}
    selected_profile = profile if isinstance(profile, str) and profile in startable else None
    default_id = default_profile.id if default_profile and default_profile.id in startable else None
    return _TEMPLATES.get_template("options_form.html").render(
        # unavailable images are shown (greyed out, with the reason), hidden ones are not
        images=images,
        catalog=catalog,
        profiles=profiles,
        backend=backend,
        selected_image=selected_image or (default_image.id if default_image else None),
        selected_profile=selected_profile or default_id,
        capacity=capacity,
        **extra,
    )
