"""The configuration file, ``workspaces.yaml``: its model, its loader and its check.

One file holds what an admin changes: the backend, the hub's addresses, auth,
storage bounds, and the catalog and profiles (inline, or as paths to their own
files, relative to the config file). The catalog model lives in
:mod:`workspaces.catalog`; this module reads the file and the files it names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError, Issue, issues_from_pydantic
from .quantity import memory_bytes

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "workspaces.yaml"


class Model(BaseModel):
    """Strict base: unknown keys are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _memory(value: Any) -> str:
    memory_bytes(value)  # raises ValueError with the accepted forms
    return str(value)


def _catalog_source(value: Any) -> Any:
    if isinstance(value, (str, dict)):
        return value
    raise ValueError("must be the path of a catalog file or an inline mapping with an images list")


def _profiles_source(value: Any) -> Any:
    if isinstance(value, (str, list)):
        return value
    raise ValueError("must be the path of a profiles file or an inline list of profiles")


MemorySize = Annotated[str, BeforeValidator(_memory)]
Port = Annotated[int, Field(ge=1, le=65535)]


class HubSettings(Model):
    ip: str = Field("127.0.0.1", description="Address the proxy listens on; loopback unless you mean it.")
    port: Port = Field(8000, description="Public port of the proxy.")
    hub_ip: str = Field("127.0.0.1", description="Address of the hub's own API.")
    hub_port: Port = Field(
        8081, description="Port of the hub's API; keep it stable so running workspaces find the hub again."
    )
    proxy_api_port: Port = Field(8001, description="Port of the proxy's REST API (loopback).")
    data_dir: str | None = Field(None, description="Hub database, secrets and workspace folders.")
    extra_config: str | None = Field(
        None, description="A jupyterhub_config.py loaded last, for anything traitlets can set."
    )

    @model_validator(mode="after")
    def _distinct_ports(self) -> HubSettings:
        ports = [self.port, self.hub_port, self.proxy_api_port]
        if len(set(ports)) != len(ports):
            raise ValueError("port, hub_port and proxy_api_port must all differ")
        return self


class AuthSettings(Model):
    type: Literal["shared-password"] = "shared-password"
    admin_users: list[str] = Field(default_factory=lambda: ["admin"], min_length=1)
    admin_password: str | None = Field(
        None, min_length=32, description="Unset: generated once into the data dir."
    )
    user_password: str | None = Field(
        None, min_length=8, description="Unset: generated once into the data dir."
    )


class StorageSettings(Model):
    default_size: MemorySize = "10Gi"
    max_size: MemorySize = "100Gi"

    @model_validator(mode="after")
    def _default_within_max(self) -> StorageSettings:
        if memory_bytes(self.default_size) > memory_bytes(self.max_size):
            raise ValueError(f"default_size {self.default_size} is larger than max_size {self.max_size}")
        return self


class LocalSettings(Model):
    gpus: Literal["auto", "none"] = Field(
        "auto", description="auto: detect with nvidia-smi; none: offer no GPUs."
    )
    nvidia_smi: str = Field("nvidia-smi", description="The nvidia-smi to run (a name on PATH or a path).")
    enforce_memory_limit: bool = Field(
        True, description="Cap each workspace process's data memory at the profile's memory limit."
    )


class WorkspacesConfig(Model):
    """Everything in workspaces.yaml except the catalog and profiles."""

    backend: Literal["local"] = "local"
    hub: HubSettings = HubSettings()
    auth: AuthSettings = AuthSettings()
    storage: StorageSettings = StorageSettings()
    local: LocalSettings = LocalSettings()
    named_server_limit_per_user: int = Field(0, ge=0, description="0 means no limit.")
    # Catalog and profiles are validated by workspaces.catalog; here they are
    # only located: inline content, or a path relative to this file.
    catalog: Annotated[Any, BeforeValidator(_catalog_source)] = str(REPO_ROOT / "images" / "catalog.yaml")
    profiles: Annotated[Any, BeforeValidator(_profiles_source)] = str(REPO_ROOT / "config" / "profiles.yaml")


class LoadedConfig:
    """A validated config file, with the paths it refers to resolved."""

    def __init__(self, path: Path | None, settings: WorkspacesConfig):
        self.path = path
        self.settings = settings

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, relative: str) -> Path:
        p = Path(os.path.expanduser(relative))
        return p if p.is_absolute() else (self.base_dir / p).resolve()


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error becomes a ConfigError with line and column."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError([Issue("", f"cannot read file: {e.strerror}")], source=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([Issue("", f"{where}invalid YAML: {problem}")], source=str(path)) from None


def load_config(path: str | os.PathLike[str] | None) -> LoadedConfig:
    """Read and validate workspaces.yaml (``None``: built-in defaults)."""
    if path is None:
        return LoadedConfig(None, WorkspacesConfig())
    path = Path(path).resolve()
    data = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Issue("", "must be a mapping of settings")], source=str(path))
    try:
        settings = WorkspacesConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(issues_from_pydantic(e, WorkspacesConfig), source=str(path)) from None
    return LoadedConfig(path, settings)
