"""The configuration file, ``workspaces.yaml``: its model, its loader and its check.

One file holds what an admin changes: the backend, the hub's addresses, auth,
storage bounds, and the catalog and profiles (inline, or as paths to their own
files, relative to the config file). The catalog model lives in
:mod:`workspaces.catalog`; this module reads the file and the files it names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError, Issue, issues_from_pydantic
from .naming import MAX_NAME, is_dns_label
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


_DURATION = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)\s*(?P<unit>s|m|h|d)?$")
_SECONDS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any) -> float:
    """Seconds in 600, "90s", "30m", "2h" or "1d"."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 600, 90s, 30m, 2h or 1d")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("must be a duration >= 0")
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"must be a duration such as 600, 90s, 30m, 2h or 1d, not {value!r}")
    return float(match["number"]) * _SECONDS[match["unit"]]


def _network(value: Any) -> IPv4Network | IPv6Network:
    """An address or CIDR; host bits must be zero."""
    if not isinstance(value, str):
        raise ValueError("must be an IP address or CIDR such as 10.0.0.0/8, as a string")
    try:
        return ip_network(value.strip())
    except ValueError as e:
        raise ValueError(f"not an IP address or CIDR: {e}") from None


def _http_url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
        raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
    return value.rstrip("/")


Duration = Annotated[float, BeforeValidator(_duration)]
Network = Annotated[IPv4Network | IPv6Network, BeforeValidator(_network)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
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
    base_url: str = Field(
        "/", pattern=r"^/([A-Za-z0-9._~-]+/)*$",
        description="Path prefix of everything the hub serves, e.g. /workspaces/ behind Kubeflow's gateway.",
    )
    # In a cluster (the Helm chart sets these): the proxy is its own pod, the
    # database may be elsewhere, and workspaces reach the hub through a Service.
    external_proxy: bool = Field(
        False,
        description="The proxy runs on its own (the chart's proxy Deployment): the hub neither starts nor stops it. "
        "Its API token then comes from $CONFIGPROXY_AUTH_TOKEN.",
    )
    proxy_api_url: HttpUrl | None = Field(
        None, description="The proxy's REST API; default http://127.0.0.1:<proxy_api_port>."
    )
    proxy_url: HttpUrl | None = Field(
        None,
        description="How the hub's services reach the proxy's public side (the culler probes servers through it); "
        "default http://127.0.0.1:<port>.",
    )
    connect_url: HttpUrl | None = Field(
        None, description="How workspaces reach the hub's API, e.g. http://workspaces-hub:8081; default hub_ip:hub_port."
    )
    services_host: str | None = Field(
        None,
        description="How the proxy reaches the hub's services (the API, the culler) when it runs elsewhere, "
        "e.g. the hub's Service name; default 127.0.0.1.",
    )
    db_url_env: EnvName | None = Field(
        None,
        description="The environment variable holding the hub's database URL (e.g. from a Secret); "
        "default: sqlite in the data dir.",
    )

    @model_validator(mode="after")
    def _distinct_ports(self) -> HubSettings:
        ports = [self.port, self.hub_port, self.proxy_api_port]
        if len(set(ports)) != len(ports):
            raise ValueError("port, hub_port and proxy_api_port must all differ")
        return self


class HeaderAuthSettings(Model):
    """auth.type header: a gateway in front (Kubeflow's) has logged the user in and names them in a header."""

    user_header: str = Field("kubeflow-userid", min_length=1, description="The header naming the user.")
    groups_header: str | None = Field(
        "kubeflow-groups", description="The header listing the user's groups (comma-separated); null: none."
    )
    user_prefix: str = Field("", description="Removed from the user header's value, e.g. 'accounts.google.com:'.")
    trusted_sources: list[Network] = Field(
        min_length=1,
        description="Addresses of the gateway or auth proxy that sets the header (CIDRs); "
        "a request that did not come from one of them is refused.",
    )
    trusted_proxies: list[Network] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32"), ip_network("::1/128")],
        description="Addresses of the proxy in front of the hub (CIDRs): only from these is "
        "the last X-Forwarded-For entry believed.",
    )


class AuthSettings(Model):
    type: Literal["shared-password", "header"] = Field(
        "shared-password", description="shared-password: generated passwords; header: a trusted gateway's header."
    )
    header: HeaderAuthSettings | None = Field(None, description="Settings of auth.type header.")
    admin_users: list[str] = Field(default_factory=lambda: ["admin"], min_length=1)
    admin_password: str | None = Field(
        None, min_length=32, description="Unset: generated once into the data dir."
    )
    user_password: str | None = Field(
        None, min_length=8, description="Unset: generated once into the data dir."
    )

    @model_validator(mode="after")
    def _header_settings_for_header_auth(self) -> AuthSettings:
        if self.type == "header" and self.header is None:
            raise ValueError("auth.type header needs auth.header with at least trusted_sources")
        if self.type != "header" and self.header is not None:
            raise ValueError(f"auth.header is for auth.type header, not {self.type}")
        return self


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


class KubernetesSettings(Model):
    """The Kubernetes backend: where workspaces go and what their pods get."""

    namespace: str = Field(
        "workspaces", description="The one namespace of every workspace (without kubeflow and namespace_template)."
    )
    namespace_template: str | None = Field(
        None,
        description="A namespace per user, e.g. 'ws-{username}' ({username}: the user's name as a DNS label). "
        "Created when missing, never deleted.",
    )
    kubeflow: bool = Field(False, description="Put workspaces in the users' Kubeflow profile namespaces.")
    istio: bool = Field(
        False,
        description="Profile namespaces have Istio sidecar injection: give each workspace a Service "
        "and wait for its sidecar, so the proxy reaches the server through the mesh.",
    )
    storage_class: str | None = Field(
        None,
        description="StorageClass of workspace PVCs; null: the cluster's default class; "
        "'' (empty): no class, for pre-provisioned volumes only.",
    )
    storage_access_modes: list[Literal["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany"]] = Field(
        default_factory=lambda: ["ReadWriteOnce"], min_length=1
    )
    home_mount_path: str = Field("/home/jovyan", description="Where the workspace PVC is mounted.")

    @model_validator(mode="after")
    def _one_namespace_mode(self) -> KubernetesSettings:
        if self.kubeflow and self.namespace_template:
            raise ValueError("kubeflow and namespace_template exclude each other: pick one way to choose namespaces")
        if not is_dns_label(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a DNS-1123 label (a-z, 0-9, '-', at most 63)")
        if self.namespace_template is not None:
            try:
                sample = self.namespace_template.format(username="user")
                fixed = self.namespace_template.format(username="")
            except (KeyError, IndexError, ValueError):
                raise ValueError("namespace_template may use only {username}") from None
            if "{username}" not in self.namespace_template or not fixed:
                # a bare {username} would let a user named kube-system work there
                raise ValueError("namespace_template must contain {username} and a prefix or suffix, e.g. ws-{username}")
            if not is_dns_label(sample) or len(fixed) > MAX_NAME - _MIN_USERNAME:
                raise ValueError(f"namespace_template {self.namespace_template!r} does not make a DNS-1123 label")
        return self


_MIN_USERNAME = 16  # room the template leaves for the user's part of a namespace name


class CullMatch(Model):
    """What a rule applies to; every key given must match."""

    profile: str | None = None
    image: str | None = None
    gpu: bool | None = Field(None, description="true: workspaces that have GPUs; false: those without.")
    group: str | None = None
    user: str | None = None
    namespace: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> CullMatch:
        if not self.model_fields_set:
            raise ValueError("give at least one of: " + ", ".join(CullMatch.model_fields))
        return self


class CullRule(Model):
    name: str | None = Field(None, description="How decisions name this rule; default rules[i].")
    match: CullMatch
    timeout: Duration | None = Field(None, description="Idle time after which the workspace is stopped.")
    exempt: bool = Field(False, description="Never stop what this rule matches (max_age included).")

    @model_validator(mode="after")
    def _one_effect(self) -> CullRule:
        if (self.timeout is None) == (not self.exempt):
            raise ValueError("set either timeout or exempt: true")
        return self


class CullingPolicy(Model):
    enabled: bool = Field(True, description="Run the culler service with the hub.")
    default_timeout: Duration = Field(3600, description="Idle time after which a workspace is stopped.")
    rules: list[CullRule] = Field(default_factory=list, description="First match wins.")
    startup_grace: Duration = Field(600, description="A workspace younger than this is never stopped.")
    max_age: Duration | None = Field(None, description="Stop workspaces older than this, busy or not.")
    every: Duration = Field(300, gt=0, description="Time between passes.")
    concurrency: int = Field(10, ge=1, le=100, description="Hub and server requests at once.")
    page_size: int = Field(200, ge=1, le=1000, description="Users per hub API page.")
    probe: bool = Field(True, description="Ask idle-looking servers for kernels, terminals, connections.")
    probe_timeout: Duration = 10
    unprobed_is_idle: bool = Field(
        False, description="Treat a server that cannot be probed as idle (default: keep it)."
    )
    dry_run: bool = Field(False, description="Report what would be stopped; stop nothing.")
    port: Port = Field(8002, description="Loopback port of the culler's metrics and decisions.")


class ApiSettings(Model):
    port: Port = Field(8003, description="Loopback port of the workspaces API service (reached through the proxy).")


class WorkspacesConfig(Model):
    """Everything in workspaces.yaml except the catalog and profiles."""

    backend: Literal["local", "kubernetes"] = "local"
    hub: HubSettings = HubSettings()
    auth: AuthSettings = AuthSettings()
    storage: StorageSettings = StorageSettings()
    local: LocalSettings = LocalSettings()
    culling: CullingPolicy = CullingPolicy()
    api: ApiSettings = ApiSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()
    named_server_limit_per_user: int = Field(0, ge=0, description="0 means no limit.")

    @model_validator(mode="after")
    def _culler_port_is_free(self) -> WorkspacesConfig:
        hub = self.hub
        hub_ports = (hub.port, hub.hub_port, hub.proxy_api_port)
        if self.culling.enabled and self.culling.port in hub_ports:
            raise ValueError(f"culling.port {self.culling.port} is also one of the hub's ports")
        if self.api.port in hub_ports or (self.culling.enabled and self.api.port == self.culling.port):
            raise ValueError(f"api.port {self.api.port} is also the port of the hub, the proxy or the culler")
        return self
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
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([Issue("", f"cannot read file: {e.strerror}")], source=str(path)) from None
    except UnicodeDecodeError as e:
        raise ConfigError([Issue("", f"not UTF-8 text (byte {e.start})")], source=str(path)) from None
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
    loaded = LoadedConfig(path, settings)
    extra = settings.hub.extra_config
    if extra and not loaded.resolve(extra).is_file():
        # traitlets would skip a missing file without a word
        raise ConfigError([Issue("hub.extra_config", f"no such file: {loaded.resolve(extra)}")], source=str(path))
    return loaded
