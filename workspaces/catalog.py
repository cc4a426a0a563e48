"""The image catalog and hardware profiles: model, loading, group rules, live reload.

Admins edit ``images/catalog.yaml`` (``images: [...]``) and a profiles file
(``profiles: [...]``), or put either inline in workspaces.yaml. A
:class:`CatalogStore` notices edits without a hub restart and keeps the last
good catalog in force when an edit is invalid.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from .catalog_edits import apply_edits, read_edits
from .config import LoadedConfig, Model, WarmPoolSettings, load_config, read_yaml
from .custom_images import CustomImages
from .errors import ConfigError, Issue, issues_from_pydantic
from .kinds import Kind, KindName, KindOptions, resolve_kind
from .naming import is_dns_label
from .quantity import cpu_cores, format_bytes, memory_bytes

# A Kubernetes extended resource name: a domain prefix and a name.
_RESOURCE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}/[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")

ImageKind = KindName  # the kinds and what each carries: workspaces/kinds.py
PullPolicy = Literal["Always", "IfNotPresent", "Never"]


def _id(value: Any) -> Any:
    # Ids become Kubernetes label values and URL parts, hence DNS-label rules.
    if isinstance(value, str) and not is_dns_label(value):
        raise ValueError(
            "must be lowercase letters, digits and '-', start and end with a letter or digit, at most 63 characters"
        )
    return value


def _deprecation(value: Any) -> Any:
    if value is True:
        return {"message": "This image is deprecated."}
    if value is False or value is None:
        return None
    if isinstance(value, str) and value.strip():
        return {"message": value}
    if isinstance(value, dict):
        return {"message": "This image is deprecated.", **value}
    raise ValueError("must be false, true, the message shown to users, or {message, use: successor-id}")


def _cpu(value: Any) -> Any:
    if value is None:
        return None
    return cpu_cores(value)


def _memory(value: Any) -> Any:
    if value is None:
        return None
    memory_bytes(value)
    return str(value)


_CAPABILITY = re.compile(r"[A-Z][A-Z0-9_]*")


def _capability(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value.upper().startswith("CAP_"):
        raise ValueError(f"write {value[4:]!r}: capability names go without CAP_")
    if value == "ALL":
        raise ValueError("ALL would add every capability; name the ones the image needs")
    if not _CAPABILITY.fullmatch(value):
        raise ValueError(f"{value!r} is not a Linux capability name such as NET_ADMIN or SYS_PTRACE")
    return value


def _requirement(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("-"):
        raise ValueError(
            f"{value!r} is a pip option; requirements are package specifications such as 'numpy>=2,<3' "
            "(an index goes in index_url)"
        )
    try:
        requirement = Requirement(value)
    except InvalidRequirement as e:
        raise ValueError(f"{value!r} is not a pip requirement such as 'numpy>=2,<3': {str(e).splitlines()[0]}") from None
    if requirement.url:
        # pip builds a direct reference from source whatever --only-binary says: code run as the hub's account
        raise ValueError(
            f"{value!r} is a direct reference ({requirement.name} @ URL), which pip would build from source as the "
            "hub's account; name a package with a wheel on an index (index_url) instead"
        )
    return value


def _index_url(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith(("https://", "http://", "file://")):
        raise ValueError(f"must be an https://, http:// or file:// URL of a package index, not {value!r}")
    return value


# Environment files of tools this project does not install: PyPI has neither micromamba
# nor prefix.dev's pixi (its "pixi" is another program), so only pip's files can be built.
_NOT_PIP_FILES = (".yml", ".yaml", ".toml", ".lock")


Id = Annotated[str, BeforeValidator(_id)]
PipRequirement = Annotated[str, BeforeValidator(_requirement)]
IndexUrl = Annotated[str, BeforeValidator(_index_url)]
Capability = Annotated[str, BeforeValidator(_capability)]
Cpu = Annotated[float | None, BeforeValidator(_cpu)]
Memory = Annotated[str | None, BeforeValidator(_memory)]


class LocalRuntime(Model):
    """How the local backend runs an image: a Python environment or a command.

    With ``requirements`` (or a requirements file, ``environment``) the entry gets a
    virtual environment of its own, built at its first start (:mod:`spawner.local_envs`).
    """

    python: str | None = Field(
        None,
        description="'default' for the hub's own environment, or the path of a Python that has jupyterhub installed.",
    )
    command: list[str] | None = Field(
        None, min_length=1, description="A command that starts a JupyterHub single-user server."
    )
    requirements: list[PipRequirement] | None = Field(
        None,
        min_length=1,
        description="Packages the entry's own virtual environment holds, as pip requirements, e.g. "
        "['numpy>=2,<3']. Built at the entry's first start and shared by its workspaces; it sees the hub's "
        "packages behind its own (JupyterLab comes from there), so it takes python: default.",
    )
    environment: str | None = Field(
        None,
        description="Instead of requirements: the absolute path of a pip requirements file "
        "(requirements.txt) the environment is built from. Conda and pixi files are not supported.",
    )
    index_url: IndexUrl | None = Field(
        None, description="pip's --index-url for the environment's packages; default: PyPI."
    )
    cpu_index_url: IndexUrl | None = Field(
        None,
        description="The index used instead on a machine without an NVIDIA GPU, e.g. "
        "https://download.pytorch.org/whl/cpu for PyTorch's CPU build; default: index_url.",
    )
    warm_pool: WarmPoolSettings | None = Field(
        None, description="This image's warm processes (python runtimes only); null: the hub's local.warm_pool."
    )

    @model_validator(mode="before")
    @classmethod
    def _env_on_the_hubs_python(cls, data: Any) -> Any:
        # `local: {requirements: [...]}` alone: the environment is built on the hub's Python
        if isinstance(data, dict) and (data.get("requirements") or data.get("environment")):
            if data.get("python") is None and data.get("command") is None:
                return {**data, "python": "default"}
        return data

    @model_validator(mode="after")
    def _one_way(self) -> LocalRuntime:
        if (self.python is None) == (self.command is None):
            raise ValueError("set exactly one of python or command")
        self._check_environment()
        # The server starts in the workspace folder: a relative path would
        # point somewhere else there than where the admin meant.
        if self.python is not None and self.python != "default" and not os.path.isabs(os.path.expanduser(self.python)):
            raise ValueError(f"python must be 'default' or an absolute path, not {self.python!r}")
        if self.command is not None:
            program = os.path.expanduser(self.command[0])
            if "/" in program and not os.path.isabs(program):
                raise ValueError(f"command[0] must be a program on PATH or an absolute path, not {self.command[0]!r}")
        return self

    def _check_environment(self) -> None:
        if self.requirements is not None and self.environment is not None:
            raise ValueError("set requirements or environment, not both")
        if not self.builds_env():
            if self.index_url is not None or self.cpu_index_url is not None:
                raise ValueError("index_url and cpu_index_url go with requirements or environment")
            return
        if self.python != "default":
            # the environment lends the hub's JupyterLab and jupyterhub-singleuser: same Python only
            raise ValueError(
                "requirements and environment build on the hub's Python (python: default); "
                "a command or a Python of your own brings its own packages"
            )
        if self.environment is not None:
            if not os.path.isabs(os.path.expanduser(self.environment)):
                raise ValueError(f"environment must be an absolute path, not {self.environment!r}")
            if self.environment.endswith(_NOT_PIP_FILES):
                raise ValueError(
                    f"environment {self.environment!r}: only pip requirements files (requirements.txt) can be "
                    "built; conda and pixi files are not supported (no conda or pixi tool is installed)"
                )

    def builds_env(self) -> bool:
        """Whether the entry runs in a virtual environment of its own, built at its first start."""
        return self.requirements is not None or self.environment is not None

    def pip_index(self, nvidia_gpu: bool) -> str | None:
        """Where pip finds the environment's packages on a machine with or without an NVIDIA GPU (None: PyPI)."""
        if not nvidia_gpu and self.cpu_index_url is not None:
            return self.cpu_index_url
        return self.index_url

    def argv(self) -> list[str]:
        if self.command is not None:
            return list(self.command)
        python = sys.executable if self.python == "default" else os.path.expanduser(self.python or "")
        return [python, "-m", "jupyterhub.singleuser"]


class ImageSecurity(Model):
    """What an image needs beyond Pod Security "restricted" (Kubernetes backend).

    Workspaces run as uid 1000 without root, capabilities or privilege
    escalation, which namespaces that enforce "restricted" require. An image
    that cannot work so says what it needs here; only its pods get more, and
    a namespace whose Pod Security level forbids that refuses them.
    """

    run_as_root: bool = Field(
        False,
        description="The server starts as root (uid 0, gid 0), e.g. to switch users itself; "
        "allowed by Pod Security 'baseline', not 'restricted'.",
    )
    capabilities: list[Capability] = Field(
        default_factory=list,
        description="Linux capabilities the container adds, e.g. [SYS_PTRACE]; all others stay dropped. "
        "'restricted' allows only NET_BIND_SERVICE.",
    )

    def needs(self) -> str:
        """In words, for messages: 'to run as root and the capabilities SYS_PTRACE'."""
        parts = ["to run as root"] if self.run_as_root else []
        if self.capabilities:
            parts.append("the capabilities " + ", ".join(self.capabilities))
        return " and ".join(parts) or 'nothing beyond Pod Security "restricted"'


class Deprecation(Model):
    """Why an entry is deprecated and, like Kubeflow v2's ``redirect.to``, what replaces it."""

    message: str = Field(min_length=1, description="What users see next to the entry and their workspaces.")
    use: Id | None = Field(
        None, description="The id of the successor entry: forms and the API offer switching workspaces to it."
    )


class ImageEntry(Model):
    id: Id
    display_name: str = Field(min_length=1)
    description: str = ""
    image: str = Field(min_length=1, description="The container image reference.")
    kind: ImageKind = "jupyterlab"
    kind_options: KindOptions | None = Field(
        None, description="Changes to the kind's defaults: {url: /vscode/?folder=..., env: {NAME: value}}."
    )
    gpu: bool = Field(False, description="The image has GPU libraries (CUDA, ROCm).")
    default: bool = False
    groups: list[str] = Field(default_factory=list, description="Groups allowed; empty means everyone.")
    hidden: bool = Field(False, description="Not offered for new workspaces; existing ones keep working.")
    deprecated: Annotated[Deprecation | None, BeforeValidator(_deprecation)] = Field(
        None, description="false, true, a message, or {message, use: successor-id}."
    )
    pull_policy: PullPolicy = "IfNotPresent"
    local: LocalRuntime | None = Field(None, description="How the local backend runs it; none: unavailable there.")
    security: ImageSecurity = Field(
        ImageSecurity(), description="What it needs beyond Pod Security 'restricted' (Kubernetes backend)."
    )

    def allows(self, groups: Iterable[str]) -> bool:
        return not self.groups or bool(set(self.groups) & set(groups))

    @property
    def kind_info(self) -> Kind:
        """The kind's defaults with this entry's kind_options applied."""
        return resolve_kind(self.kind, self.kind_options)

    def unavailable_reason(self, backend: str) -> str | None:
        if backend != "local":
            return None
        if self.local is None:
            return "no local runtime is configured for this image (catalog key local.python or local.command)"
        program = self.local.argv()[0]
        if shutil.which(program) is None:
            return f"its local runtime {program!r} is not an executable on this machine"
        environment = self.local.environment
        if environment is not None and not os.path.isfile(os.path.expanduser(environment)):
            return f"its environment file {environment!r} is not a file on this machine"
        return self.kind_info.unavailable_locally()


class CpuResources(Model):
    guarantee: Cpu = None
    limit: Cpu = None

    @model_validator(mode="after")
    def _ordered(self) -> CpuResources:
        if self.guarantee is not None and self.limit is not None and self.guarantee > self.limit:
            raise ValueError(f"guarantee {self.guarantee:g} is larger than limit {self.limit:g}")
        return self


class MemoryResources(Model):
    guarantee: Memory = None
    limit: Memory = None

    @model_validator(mode="after")
    def _ordered(self) -> MemoryResources:
        if self.guarantee is not None and self.limit is not None:
            if memory_bytes(self.guarantee) > memory_bytes(self.limit):
                raise ValueError(f"guarantee {self.guarantee} is larger than limit {self.limit}")
        return self

    def limit_bytes(self) -> int | None:
        return memory_bytes(self.limit) if self.limit is not None else None

    def guarantee_bytes(self) -> int | None:
        return memory_bytes(self.guarantee) if self.guarantee is not None else None


class GpuResources(Model):
    count: int = Field(0, ge=0, description="GPUs a workspace of this profile gets.")
    max: int | None = Field(None, ge=0, description="Most GPUs a spec may ask for; default: count.")
    resource: str = Field("nvidia.com/gpu", description="The vendor's extended resource name.")

    @model_validator(mode="after")
    def _check(self) -> GpuResources:
        if not _RESOURCE.match(self.resource):
            raise ValueError(f"resource {self.resource!r} must look like vendor.com/gpu")
        if self.max is not None and self.max < self.count:
            raise ValueError(f"max {self.max} is smaller than count {self.count}")
        return self

    @property
    def max_count(self) -> int:
        return self.count if self.max is None else self.max


class Toleration(Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0)


# Affinity: Kubernetes' own objects and field names (camelCase), so an admin can
# copy them from the Kubernetes documentation; checked here, field by field.
class SelectorRequirement(Model):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] = Field(default_factory=list)


class NodeSelectorTerm(Model):
    matchExpressions: list[SelectorRequirement] = Field(default_factory=list)
    matchFields: list[SelectorRequirement] = Field(default_factory=list)


class NodeSelector(Model):
    nodeSelectorTerms: list[NodeSelectorTerm] = Field(min_length=1)


class PreferredSchedulingTerm(Model):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(Model):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[PreferredSchedulingTerm] = Field(default_factory=list)


class LabelSelector(Model):
    matchLabels: dict[str, str] = Field(default_factory=dict)
    matchExpressions: list[SelectorRequirement] = Field(default_factory=list)


class PodAffinityTerm(Model):
    topologyKey: str = Field(min_length=1)
    labelSelector: LabelSelector | None = None
    namespaceSelector: LabelSelector | None = None
    namespaces: list[str] = Field(default_factory=list)


class WeightedPodAffinityTerm(Model):
    weight: int = Field(ge=1, le=100)
    podAffinityTerm: PodAffinityTerm


class PodAffinity(Model):
    requiredDuringSchedulingIgnoredDuringExecution: list[PodAffinityTerm] = Field(default_factory=list)
    preferredDuringSchedulingIgnoredDuringExecution: list[WeightedPodAffinityTerm] = Field(default_factory=list)


class Affinity(Model):
    nodeAffinity: NodeAffinity | None = None
    podAffinity: PodAffinity | None = None
    podAntiAffinity: PodAffinity | None = None


class Profile(Model):
    id: Id
    display_name: str = Field(min_length=1)
    description: str = ""
    cpu: CpuResources = CpuResources()
    memory: MemoryResources = MemoryResources()
    gpu: GpuResources = GpuResources()
    shm_size: Memory = Field(None, description="Memory-backed /dev/shm (Kubernetes backend); none: the runtime's default.")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    affinity: Affinity = Field(Affinity(), description="Kubernetes affinity of the pod (Kubernetes backend).")
    groups: list[str] = Field(default_factory=list, description="Groups allowed; empty means everyone.")
    default: bool = False
    hidden: bool = False
    placeholders: int = Field(
        0,
        ge=0,
        le=1000,
        description="Low-priority pods of this profile's size kept running, so that a start preempts one instead "
        "of waiting for a new node (Kubernetes backend, with kubernetes.placeholders.enabled).",
    )

    def allows(self, groups: Iterable[str]) -> bool:
        return not self.groups or bool(set(self.groups) & set(groups))

    def summary(self) -> str:
        """One line for forms and messages: '1 CPU, 2 GiB, 1 GPU'."""
        parts = []
        if self.cpu.limit is not None:
            parts.append(f"{self.cpu.limit:g} CPU")
        if self.memory.limit is not None:
            parts.append(format_bytes(memory_bytes(self.memory.limit)))
        if self.gpu.count:
            parts.append(f"{self.gpu.count} GPU" + ("s" if self.gpu.count > 1 else ""))
        return ", ".join(parts) or "no limits"


class ImagesFile(Model):
    images: list[ImageEntry] = Field(min_length=1)
    # beside the entries, since it too is the catalog admins' to change, live
    custom_images: CustomImages = Field(
        CustomImages(), description="Image references users may run that the catalog does not list."
    )


class ProfilesFile(Model):
    profiles: list[Profile] = Field(min_length=1)


def _entry_issues(kind: str, entries: list[ImageEntry] | list[Profile]) -> list[Issue]:
    """Rules across entries: unique ids, at most one default."""
    issues = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.id in seen:
            issues.append(Issue(f"{kind}[{i}].id", f"duplicate id {entry.id!r} (also {kind}[{seen[entry.id]}])"))
        seen.setdefault(entry.id, i)
    defaults = [i for i, entry in enumerate(entries) if entry.default]
    if len(defaults) > 1:
        issues.append(Issue(f"{kind}[{defaults[1]}].default", f"only one entry may be the default (also {kind}[{defaults[0]}])"))
    return issues


def _successor_issues(images: list[ImageEntry]) -> list[Issue]:
    """``deprecated.use`` names another entry, and following successors ends somewhere."""
    ids = {image.id: i for i, image in enumerate(images)}
    uses = {image.id: image.deprecated.use for image in images if image.deprecated and image.deprecated.use}
    issues = []
    for i, image in enumerate(images):
        use = uses.get(image.id)
        if use is None:
            continue
        where = f"images[{i}].deprecated.use"
        if use == image.id:
            issues.append(Issue(where, f"names the entry itself; name the entry that replaces {image.id!r}"))
        elif use not in ids:
            issues.append(Issue(where, f"unknown image {use!r}; ids in this catalog: {', '.join(ids)}"))
        else:
            chain = [image.id, use]
            while chain[-1] in uses and uses[chain[-1]] in ids and uses[chain[-1]] != chain[-1]:
                chain.append(uses[chain[-1]])
                if chain[-1] in chain[:-1]:
                    issues.append(Issue(where, "successors go round in a circle: " + " -> ".join(chain)))
                    break
    return issues


def _with_entry_ids(issues: list[Issue], kind: str, raw: Any) -> list[Issue]:
    """Name the entry ('jupyter-scipy') next to its index, so a log line is findable."""
    if not isinstance(raw, list):
        return issues
    out = []
    for issue in issues:
        match = re.match(rf"^{kind}\[(\d+)\]", issue.path)
        if match and int(match[1]) < len(raw) and isinstance(raw[int(match[1])], dict):
            entry_id = raw[int(match[1])].get("id")
            if isinstance(entry_id, str):
                issue = Issue(issue.path, f"{issue.message} (entry {entry_id!r})")
        out.append(issue)
    return out


@dataclass(frozen=True)
class Catalog:
    """One consistent snapshot of images and profiles."""

    images: tuple[ImageEntry, ...]
    profiles: tuple[Profile, ...]
    custom_images: CustomImages = CustomImages()

    def image(self, image_id: str) -> ImageEntry | None:
        return next((i for i in self.images if i.id == image_id), None)

    def successor(self, image: ImageEntry) -> ImageEntry | None:
        """The entry that replaces a deprecated one: its ``use``, followed to the end (loading refuses cycles)."""
        found = None
        while image.deprecated and image.deprecated.use and (following := self.image(image.deprecated.use)):
            found = image = following
        return found

    def profile(self, profile_id: str) -> Profile | None:
        return next((p for p in self.profiles if p.id == profile_id), None)

    def images_for(self, groups: Iterable[str], backend: str | None = None) -> list[ImageEntry]:
        """Images offered to someone in ``groups``: allowed, not hidden, runnable on ``backend``."""
        groups = set(groups)
        return [
            i
            for i in self.images
            if i.allows(groups) and not i.hidden and (backend is None or i.unavailable_reason(backend) is None)
        ]

    def profiles_for(self, groups: Iterable[str]) -> list[Profile]:
        groups = set(groups)
        return [p for p in self.profiles if p.allows(groups) and not p.hidden]

    @staticmethod
    def _default(entries: list[Any]) -> Any:
        return next((e for e in entries if e.default), entries[0] if entries else None)

    def default_image(self, groups: Iterable[str], backend: str | None = None) -> ImageEntry | None:
        return self._default(self.images_for(groups, backend))

    def default_profile(self, groups: Iterable[str]) -> Profile | None:
        return self._default(self.profiles_for(groups))


def _validate_part(
    model: type[ImagesFile] | type[ProfilesFile], kind: str, data: Any, source: str, prefix: str = ""
) -> Any:
    """Validate one images or profiles document; ``prefix`` is where it sits in its file."""
    if not isinstance(data, dict):
        raise ConfigError([Issue(prefix.rstrip("."), f"must be a mapping with a {kind} list")], source=source)
    try:
        parsed = model.model_validate(data)
        entries = getattr(parsed, kind)
        issues = _entry_issues(kind, entries)
        if kind == "images":
            issues += _successor_issues(entries)
    except ValidationError as e:
        issues = issues_from_pydantic(e, model)
    if issues:
        issues = _with_entry_ids(issues, kind, data.get(kind))
        raise ConfigError([Issue(prefix + i.path, i.message) for i in issues], source=source)
    return entries


def catalog_files(config: LoadedConfig, edits: Path | None = None) -> list[Path]:
    """Every file the catalog is read from (for change detection)."""
    files = [config.path] if config.path else []
    for ref in (config.settings.catalog, config.settings.profiles):
        if isinstance(ref, str):
            files.append(config.resolve(ref))
    if edits is not None:
        files.append(edits)
    return files


def raw_images(config: LoadedConfig) -> tuple[Any, str, str]:
    """The catalog's images document as written, where it comes from, and its path prefix there."""
    settings = config.settings
    if isinstance(settings.catalog, str):
        path = config.resolve(settings.catalog)
        return read_yaml(path), str(path), ""
    return settings.catalog, str(config.path) if config.path else "workspaces.yaml", "catalog."


def validate_images(data: Any, source: str, prefix: str = "") -> list[ImageEntry]:
    return _validate_part(ImagesFile, "images", data, source, prefix)


def load_catalog(config: LoadedConfig, edits: Path | None = None) -> Catalog:
    """Read and validate the images and profiles a config refers to, with admins' edits applied."""
    settings = config.settings
    config_source = str(config.path) if config.path else "workspaces.yaml"
    data, source, prefix = raw_images(config)
    changes = read_edits(edits)
    if (changes["images"] or changes["removed"]) and isinstance(data, dict) and isinstance(data.get("images"), list):
        data = {**data, "images": apply_edits(data["images"], changes)}
        source = f"{source} with {edits}"
    images = validate_images(data, source, prefix)
    if isinstance(settings.profiles, str):
        path = config.resolve(settings.profiles)
        profiles = _validate_part(ProfilesFile, "profiles", read_yaml(path), str(path))
    else:
        profiles = _validate_part(ProfilesFile, "profiles", {"profiles": settings.profiles}, config_source)
    custom = CustomImages.model_validate(data.get("custom_images") or {})  # checked with the images above
    return Catalog(tuple(images), tuple(profiles), custom)


class CatalogStore:
    """The catalog in force, re-read when one of its files changes.

    ``current()`` is called on every form render and spawn; it costs a few
    ``stat`` calls. An invalid edit is logged once, with the file, the entry
    and what is wrong, and the last good catalog stays in force.
    """

    def __init__(self, config: LoadedConfig, log: logging.Logger | None = None, edits: Path | None = None):
        self.log = log or logging.getLogger("workspaces.catalog")
        self._settings = config  # hub settings: read at start only
        self._config = config  # latest good file, for where the catalog lives
        self.edits = edits  # admins' changes through the API (catalog_edits.py)
        self.last_error: ConfigError | None = None
        try:
            self._catalog = load_catalog(config, edits)
        except ConfigError as e:
            if edits is None:
                raise
            # admins' edits no longer fit the catalog file: start with the file alone, and say why
            for line in e.lines():
                self.log.error("Catalog edits not applied, using the catalog file alone: %s", line)
            self.last_error = e
            self._catalog = load_catalog(config)
        self._stamps = self._stat()

    def _stat(self) -> dict[Path, tuple[int, int, int] | None]:
        stamps: dict[Path, tuple[int, int, int] | None] = {}
        for path in catalog_files(self._config, self.edits):
            try:
                st = path.stat()
                # the inode too: an atomic replace of the same size within one mtime tick
                stamps[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
            except OSError:
                stamps[path] = None
        return stamps

    @property
    def config(self) -> LoadedConfig:
        """The config as loaded at start: hub settings do not change without a restart."""
        return self._settings

    @property
    def source(self) -> LoadedConfig:
        """The latest good config: where the catalog and profiles are read from now."""
        return self._config

    def current(self) -> Catalog:
        stamps = self._stat()
        if stamps != self._stamps:
            self._stamps = stamps
            self.reload()
        return self._catalog

    def reload(self) -> bool:
        """Load the files now; returns whether the new catalog took effect."""
        try:
            config = load_config(self._config.path) if self._config.path else self._config
            catalog = load_catalog(config, self.edits)
        except ConfigError as e:
            self.last_error = e
            for line in e.lines():
                self.log.error("Catalog not reloaded, keeping the last good one: %s", line)
            return False
        self._config = config
        self._stamps = self._stat()
        self._catalog = catalog
        self.last_error = None
        self.log.info(
            "Catalog reloaded: %d images, %d profiles", len(catalog.images), len(catalog.profiles)
        )
        return True
