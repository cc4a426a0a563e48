"""The workspace spec: what a workspace is made of, validated in one place.

A spec arrives as JupyterHub ``user_options``, from the spawn form or the REST
API (``POST /hub/api/users/{user}/servers/{name}``). :func:`resolve_spec`
checks it against the catalog in force and the user's groups, fills in the
defaults, and returns the entries it names, or raises :class:`SpecError` with
one issue per field, each saying what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, ValidationError, field_validator

from .catalog import Catalog, ImageEntry, Profile
from .config import Model, StorageSettings
from .custom_images import NOT_ALLOWED, ImageRefError
from .errors import Issue, IssuesError, issues_from_pydantic
from .naming import is_dns_label, is_dns_subdomain
from .quantity import memory_bytes


# What a workspace on a custom image is labelled with where a catalog id would be.
CUSTOM_IMAGE_ID = "custom"


class SpecError(IssuesError):
    """The spec is invalid; ``issues`` name each field and what is allowed."""

    def summary(self) -> str:
        return "Invalid workspace spec: " + "; ".join(str(i) for i in self.issues)


# Kubernetes object names: a DNS-1123 label (namespaces) or subdomain (PVCs, PodDefaults).
def _dns_label(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(f"{value!r} is not a namespace name (lowercase letters, digits and '-', at most 63)")
    return value


def _dns_subdomain(value: str) -> str:
    if not is_dns_subdomain(value):
        raise ValueError(f"{value!r} is not a Kubernetes object name (lowercase letters, digits, '-' and '.')")
    return value


def _absolute_path(value: str) -> str:
    if not value.startswith("/") or value.rstrip("/") == "":
        raise ValueError(f"must be an absolute path below /, not {value!r}")
    return value


NamespaceName = Annotated[str, AfterValidator(_dns_label)]
ObjectName = Annotated[str, AfterValidator(_dns_subdomain)]
AbsolutePath = Annotated[str, AfterValidator(_absolute_path)]


class VolumeMount(Model):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    claim: ObjectName = Field(description="An existing PersistentVolumeClaim in the namespace.")
    mount_path: AbsolutePath = Field(description="Where it appears in the workspace.")
    read_only: bool = False


class WorkspaceSpec(Model):
    """The user-facing spec. Strict: ``"2"`` is not a GPU count."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    image: str | None = Field(None, description="Catalog image id; default: the catalog's default.")
    custom_image: str | None = Field(
        None,
        description="An image reference the catalog does not list, instead of image; "
        "only where the catalog's custom_images.allow has a matching pattern (Kubernetes backend).",
    )
    profile: str | None = Field(None, description="Profile id; default: the default profile.")
    gpus: int | None = Field(None, ge=0, description="GPU count override, up to the profile's max.")
    storage: str | None = Field(None, description="Storage size, within the admin's bounds.")
    namespace: NamespaceName | None = Field(None, description="Kubernetes namespace (Kubernetes backend).")
    volumes: list[VolumeMount] = Field(default_factory=list, description="Existing PVCs to mount.")
    pod_defaults: list[ObjectName] = Field(
        default_factory=list, description="Kubeflow PodDefaults of the namespace to apply (Kubernetes backend)."
    )

    @field_validator("pod_defaults")
    @classmethod
    def _distinct_pod_defaults(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("names a PodDefault twice")
        return names

    @field_validator("volumes")
    @classmethod
    def _distinct_mount_paths(cls, volumes: list[VolumeMount]) -> list[VolumeMount]:
        paths = [v.mount_path.rstrip("/") for v in volumes]
        if len(set(paths)) != len(paths):
            raise ValueError("two volumes share a mount_path")
        return volumes


@dataclass(frozen=True)
class ResolvedSpec:
    """A valid spec with its defaults filled in and the entries it names."""

    spec: WorkspaceSpec
    image: ImageEntry
    profile: Profile
    gpus: int

    def user_options(self) -> dict[str, Any]:
        """The spec as stored in the hub: explicit, so a restart runs the same thing."""
        return self.spec.model_dump(exclude_none=True, exclude_defaults=True, mode="json")


def _allowed(ids: Iterable[str]) -> str:
    ids = list(ids)
    return ", ".join(ids) if ids else "(none)"


def resolve_spec(
    raw: Any,
    catalog: Catalog,
    groups: Iterable[str] = (),
    backend: str = "local",
    storage: StorageSettings | None = None,
) -> ResolvedSpec:
    """Validate ``raw`` user options for a user in ``groups`` on ``backend``."""
    groups = set(groups)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError([Issue("", "the spec must be a JSON object")])
    try:
        spec = WorkspaceSpec.model_validate(raw)
    except ValidationError as e:
        raise SpecError(issues_from_pydantic(e, WorkspaceSpec)) from None

    issues: list[Issue] = []
    offered_images = catalog.images_for(groups, backend)
    if spec.custom_image is not None:
        image = _custom_image(spec, catalog, backend, issues)
    else:
        image = _resolve_image(spec, catalog, groups, backend, offered_images, issues)
    profile = _resolve_profile(spec, catalog, groups, issues)

    gpus = 0
    if profile is not None:
        gpus = profile.gpu.count if spec.gpus is None else spec.gpus
        if gpus > profile.gpu.max_count:
            issues.append(Issue("gpus", f"must be <= {profile.gpu.max_count} for profile {profile.id!r}"))
        elif gpus and image is not None and not image.gpu and spec.custom_image is None:
            gpu_images = [i.id for i in offered_images if i.gpu]
            issues.append(
                Issue(
                    "image",
                    f"image {image.id!r} has no GPU support but the workspace gets {gpus} GPU(s); "
                    f"GPU images: {_allowed(gpu_images)}, or pick a profile without GPUs",
                )
            )

    if backend == "local":
        for field in ("storage", "namespace"):
            if getattr(spec, field) is not None:
                issues.append(Issue(field, "not supported by the local backend; remove it"))
        for field in ("volumes", "pod_defaults"):
            if getattr(spec, field):
                issues.append(Issue(field, "not supported by the local backend; remove it"))
    elif spec.storage is not None and storage is not None:
        _check_storage(spec.storage, storage, issues)

    if issues or image is None or profile is None:
        raise SpecError(issues)
    resolved = spec.model_copy(update={"image": spec.image if spec.custom_image else image.id, "profile": profile.id})
    return ResolvedSpec(spec=resolved, image=image, profile=profile, gpus=gpus)


def _resolve_image(
    spec: WorkspaceSpec,
    catalog: Catalog,
    groups: set[str],
    backend: str,
    offered: list[ImageEntry],
    issues: list[Issue],
) -> ImageEntry | None:
    allowed = f"allowed: {_allowed(i.id for i in offered)}"
    if spec.image is None:
        image = catalog.default_image(groups, backend)
        if image is None:
            issues.append(Issue("image", "no image in the catalog is available to you"))
        return image
    image = catalog.image(spec.image)
    if image is None:
        issues.append(Issue("image", f"unknown image {spec.image!r}; {allowed}"))
        return None
    if not image.allows(groups):
        issues.append(Issue("image", f"image {spec.image!r} is not available to you; {allowed}"))
        return None
    reason = image.unavailable_reason(backend)
    if reason:
        issues.append(Issue("image", f"image {spec.image!r} cannot run on the {backend} backend: {reason}; {allowed}"))
        return None
    return image


def _custom_image(spec: WorkspaceSpec, catalog: Catalog, backend: str, issues: list[Issue]) -> ImageEntry | None:
    """An entry-less image: the reference, with every default (kind jupyterlab, Pod Security "restricted")."""
    if spec.image is not None:
        issues.append(Issue("custom_image", "set image (a catalog id) or custom_image (a reference), not both"))
        return None
    try:
        ref = catalog.custom_images.check(spec.custom_image or "")
    except ImageRefError as e:
        issues.append(Issue("custom_image", str(e)))
        return None
    if backend != "kubernetes":
        issues.append(Issue("custom_image", _no_containers(backend)))
        return None
    return ImageEntry(id=CUSTOM_IMAGE_ID, display_name=f"Custom image {ref}", image=str(ref))


def _no_containers(backend: str) -> str:
    return f"the {backend} backend runs no containers; custom images need the kubernetes backend"


def custom_images_offer(catalog: Catalog, backend: str) -> dict[str, Any]:
    """What a form needs (GET /info): the allowed patterns, and why no custom image can run here (null: they can)."""
    allow = list(catalog.custom_images.allow)
    refused = NOT_ALLOWED if not allow else _no_containers(backend) if backend != "kubernetes" else None
    return {"allow": allow, "refused": refused}


def _resolve_profile(
    spec: WorkspaceSpec, catalog: Catalog, groups: set[str], issues: list[Issue]
) -> Profile | None:
    allowed = f"allowed: {_allowed(p.id for p in catalog.profiles_for(groups))}"
    if spec.profile is None:
        profile = catalog.default_profile(groups)
        if profile is None:
            issues.append(Issue("profile", "no profile is available to you"))
        return profile
    profile = catalog.profile(spec.profile)
    if profile is None:
        issues.append(Issue("profile", f"unknown profile {spec.profile!r}; {allowed}"))
        return None
    if not profile.allows(groups):
        issues.append(Issue("profile", f"profile {spec.profile!r} is not available to you; {allowed}"))
        return None
    return profile


def _check_storage(size: str, bounds: StorageSettings, issues: list[Issue]) -> None:
    try:
        requested = memory_bytes(size)
    except ValueError as e:
        issues.append(Issue("storage", str(e)))
        return
    if requested > memory_bytes(bounds.max_size):
        issues.append(Issue("storage", f"must be at most {bounds.max_size}"))
