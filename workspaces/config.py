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
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError, Issue, issues_from_pydantic
from .naming import MAX_NAME, is_dns_label, is_label_value, is_qualified_name
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


def _subdomain_host(value: Any) -> str:
    """A URL naming a host and nothing under it: users' servers get hosts below it."""
    allowed = "a URL such as https://hub.example.org (http:// or https://, a host name, an optional port, no path)"
    url = urlsplit(value.strip()) if isinstance(value, str) else None
    try:
        port = url.port if url else None  # raises on a port that is not a number
    except ValueError:
        url = None
    host = url.hostname if url else None
    if (
        not url or url.scheme not in ("http", "https") or not host
        or not re.fullmatch(r"[a-z0-9.:\[\]-]+", url.netloc.lower())
        or url.path not in ("", "/") or url.query or url.fragment or value.strip().endswith(("?", "#"))
    ):
        raise ValueError(f"must be {allowed}, not {value!r}")
    if _is_ip_address(host):
        # servers live at <user>.<host>: an address has no names below it
        raise ValueError(f"must name a host, not an IP address (servers live at <user>.<host>), not {value!r}")
    return f"{url.scheme}://{host}" + (f":{port}" if port else "")


def _dns_label(value: Any) -> Any:
    if isinstance(value, str) and not is_dns_label(value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (a-z, 0-9, '-', at most 63)")
    return value


def _is_ip_address(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


Duration = Annotated[float, BeforeValidator(_duration)]
Network = Annotated[IPv4Network | IPv6Network, BeforeValidator(_network)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
MemorySize = Annotated[str, BeforeValidator(_memory)]
Port = Annotated[int, Field(ge=1, le=65535)]
DnsLabel = Annotated[str, BeforeValidator(_dns_label)]  # the name of a namespace or of most objects


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
    subdomain_host: Annotated[str, BeforeValidator(_subdomain_host)] | None = Field(
        None,
        description="An origin per user: the hub at this URL (e.g. https://hub.example.org), each user's "
        "workspaces at https://<user>.hub.example.org, each hub service at https://<service>--service.hub.example.org, "
        "so a page a user's server serves cannot read the hub, the dashboard or another user's workspaces. "
        "Needs wildcard DNS (and a wildcard TLS certificate) for *.hub.example.org. Unset: one origin for all.",
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


class NativeAuthSettings(Model):
    """auth.type native: each person has their own password (NativeAuthenticator)."""

    minimum_password_length: int = Field(
        10, ge=8, le=72, description="Shortest password accepted at sign-up and password change (bcrypt reads 72 bytes)."
    )
    refuse_common_passwords: bool = Field(
        True, description="Refuse passwords from NativeAuthenticator's list of common passwords."
    )
    lockout_after: int = Field(
        5, ge=0, description="Failed logins in a row after which an account is locked; 0: never lock."
    )
    lockout_for: Duration = Field(600, gt=0, description="How long a locked account stays locked, e.g. 10m.")


def _is_loopback_url(url: str) -> bool:
    host = re.sub(r"^https?://", "", url).split("/")[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "127.0.0.1", "::1")


class OidcAuthSettings(Model):
    """auth.type oidc: an OpenID Connect provider logs people in (OAuthenticator's GenericOAuthenticator)."""

    issuer: HttpUrl = Field(
        description="The provider's issuer URL; its /.well-known/openid-configuration names the endpoints."
    )
    client_id: str = Field(min_length=1, description="This hub's client id at the provider.")
    client_secret_env: EnvName = Field(
        "WORKSPACES_OIDC_CLIENT_SECRET",
        description="The environment variable holding the client secret (never the file: it is no secret store).",
    )
    callback_url: HttpUrl | None = Field(
        None, description="The URL the provider sends browsers back to; default <hub URL>/hub/oauth_callback."
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile", "email"], description="Scopes asked for; add groups if needed."
    )
    username_claim: str = Field("preferred_username", min_length=1, description="The userinfo claim naming the user.")
    groups_claim: str = Field("groups", min_length=1, description="The userinfo claim listing the user's groups.")
    allowed_users: list[str] = Field(default_factory=list, description="Who may log in, by name.")
    allowed_groups: list[str] = Field(default_factory=list, description="Who may log in, by group.")
    admin_groups: list[str] = Field(default_factory=list, description="Members of these groups are admins.")
    allow_all: bool = Field(False, description="Everyone the provider knows may log in.")

    @model_validator(mode="after")
    def _someone_may_log_in(self) -> OidcAuthSettings:
        if not (self.allowed_users or self.allowed_groups or self.allow_all):
            raise ValueError(
                "auth.oidc needs allowed_users, allowed_groups, or allow_all: true (everyone the provider knows)"
            )
        for key in ("issuer", "callback_url"):
            url = getattr(self, key)
            # the code and the session cookie cross this hop; plain http only where nobody listens in
            if url and url.startswith("http://") and not _is_loopback_url(url):
                raise ValueError(f"auth.oidc.{key} must be an https:// URL (http:// only on loopback), not {url!r}")
        return self


class AuthSettings(Model):
    type: Literal["native", "oidc", "shared-password", "header"] = Field(
        "native",
        description="native: a password per person, sign-up approved by an admin; oidc: an OpenID Connect provider; "
        "shared-password: one password for all users (a workshop on one machine); header: a trusted gateway's header.",
    )
    header: HeaderAuthSettings | None = Field(None, description="Settings of auth.type header.")
    native: NativeAuthSettings | None = Field(None, description="Settings of auth.type native (defaults apply).")
    oidc: OidcAuthSettings | None = Field(None, description="Settings of auth.type oidc.")
    admin_users: list[str] = Field(
        default_factory=lambda: ["admin"], min_length=1, description="Who is an admin (names as the hub sees them)."
    )
    admin_password: str | None = Field(
        None, min_length=32,
        description="native and shared-password: the admin users' first password; unset: generated once into the data dir.",
    )
    user_password: str | None = Field(
        None, min_length=8, description="shared-password only: the one password of all users; unset: generated."
    )

    @model_validator(mode="after")
    def _settings_of_the_type(self) -> AuthSettings:
        if self.type == "header" and self.header is None:
            raise ValueError("auth.type header needs auth.header with at least trusted_sources")
        if self.type == "oidc" and self.oidc is None:
            raise ValueError("auth.type oidc needs auth.oidc with at least issuer, client_id and allowed_users or groups")
        for section in ("header", "native", "oidc"):
            if self.type != section and getattr(self, section) is not None:
                raise ValueError(f"auth.{section} is for auth.type {section}, not {self.type}")
        if self.user_password is not None and self.type != "shared-password":
            raise ValueError(
                f"auth.user_password is only for auth.type shared-password; with {self.type} each person has their own"
            )
        if self.type == "oidc" and "admin_users" not in self.model_fields_set:
            # the default name 'admin' is whoever the provider calls so, maybe a stranger
            raise ValueError("auth.type oidc needs auth.admin_users: the admins' names at the provider")
        return self

    @property
    def native_settings(self) -> NativeAuthSettings:
        """auth.native, or its defaults when the file leaves it out."""
        return self.native or NativeAuthSettings()


class StorageSettings(Model):
    default_size: MemorySize = "10Gi"
    max_size: MemorySize = "100Gi"

    @model_validator(mode="after")
    def _default_within_max(self) -> StorageSettings:
        if memory_bytes(self.default_size) > memory_bytes(self.max_size):
            raise ValueError(f"default_size {self.default_size} is larger than max_size {self.max_size}")
        return self


MAX_WARM_POOL = 8


class WarmPoolSettings(Model):
    """Warm processes kept per image: a start takes one instead of importing the server anew."""

    size: int = Field(
        1,
        ge=0,
        le=MAX_WARM_POOL,
        description="Warm processes per image (0 to 8); 0 turns warm starts off. Each holds the memory "
        "of an idle server (about 100 MB) while it waits; see the README for sizing.",
    )


class LocalSettings(Model):
    warm_pool: WarmPoolSettings = Field(
        WarmPoolSettings(),
        description="Warm starts, for every image with a 'python' runtime; an image's local.warm_pool overrides it.",
    )
    gpus: Literal["auto", "none"] = Field(
        "auto", description="auto: detect with nvidia-smi; none: offer no GPUs."
    )
    nvidia_smi: str = Field("nvidia-smi", description="The nvidia-smi to run (a name on PATH or a path).")
    enforce_memory_limit: bool = Field(
        True,
        description="Hold each workspace to its profile's memory limit: a cgroup v2 limit on the whole "
        "workspace where the machine delegates one to the hub, else RLIMIT_DATA on each of its processes.",
    )
    isolation: Literal["auto", "users", "none"] = Field(
        "auto",
        description="users: each hub user's workspaces run as that user's own OS account (jupyter-<name>, made "
        "on first start), so no workspace can read another's files or the hub's secrets; needs a hub running as "
        "root. none: every workspace runs as the hub's own account and can read everything the hub can (every "
        "user is in effect an admin). auto: users when the hub runs as root; otherwise the workspaces of one "
        "hub user only, and a second user's start is refused.",
    )
    python: str | None = Field(
        None,
        description="The Python that runs images whose local runtime is 'python: default' (the users' "
        "environment); null: the hub's own. With isolation users, every workspace account must be able to run it.",
    )

    @model_validator(mode="after")
    def _python_is_absolute(self) -> LocalSettings:
        # the server starts in the workspace folder, where a relative path means something else
        if self.python is not None and not os.path.isabs(os.path.expanduser(self.python)):
            raise ValueError(f"local.python must be an absolute path, not {self.python!r}")
        return self

    def isolation_mode(self, euid: int) -> Literal["users", "single-user", "none"]:
        """What ``isolation`` means for a hub running as ``euid``.

        single-user: no isolation is possible, so only one hub user may have workspaces.
        """
        if self.isolation == "auto":
            return "users" if euid == 0 else "single-user"
        return self.isolation


def _check_pods(namespace: str, labels: dict[str, str]) -> None:
    """A namespace and a label selector the API server accepts, or a ValueError that says what is wrong."""
    if not is_dns_label(namespace):
        raise ValueError(f"namespace {namespace!r} is not a DNS-1123 label (a-z, 0-9, '-', at most 63)")
    for key, value in labels.items():
        if not is_qualified_name(key):
            raise ValueError(f"label key {key!r} is not a qualified name such as app.kubernetes.io/component")
        if not is_label_value(value):
            raise ValueError(f"label value {value!r} is not a label value (at most 63 of a-z, A-Z, 0-9, '-', '_', '.')")


class EgressPort(Model):
    port: Port
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class EgressAllow(Model):
    """One more destination workspaces may reach: addresses (cidr), or pods of a namespace."""

    cidr: Network | None = Field(None, description="Addresses, e.g. 10.20.0.0/16 (a database outside the cluster).")
    except_: list[Network] = Field(
        default_factory=list, alias="except", description="Addresses inside cidr that stay blocked."
    )
    namespace: str | None = Field(None, description="Pods of this namespace (in-cluster services).")
    pod_labels: dict[str, str] = Field(default_factory=dict, description="Only the namespace's pods with these labels.")
    ports: list[EgressPort] = Field(default_factory=list, description="Empty: every port.")

    @model_validator(mode="after")
    def _one_destination(self) -> EgressAllow:
        if (self.cidr is None) == (self.namespace is None):
            raise ValueError("give either cidr (addresses) or namespace (pods of a namespace), not both")
        if self.cidr is None and self.except_:
            raise ValueError("except is for cidr")
        if self.namespace is None and self.pod_labels:
            raise ValueError("pod_labels is for namespace")
        if self.namespace is not None:
            _check_pods(self.namespace, self.pod_labels)
        for blocked in self.except_:
            if blocked.version != self.cidr.version or not blocked.subnet_of(self.cidr):
                raise ValueError(f"except {blocked} is not inside cidr {self.cidr}")
        return self


class HubPods(Model):
    """Where the hub's pods are, so that workspaces may reach the hub's API (hub.hub_port) and nothing else there."""

    namespace: str = Field(description="The hub's namespace.")
    pod_labels: dict[str, str] = Field(min_length=1, description="Labels that select the hub's pods.")

    @model_validator(mode="after")
    def _selectable(self) -> HubPods:
        _check_pods(self.namespace, self.pod_labels)
        return self


class EgressSettings(Model):
    """What workspaces may reach: a NetworkPolicy the hub writes in every namespace where it runs them."""

    enabled: bool = Field(
        True,
        description="Limit workspace egress. false: workspaces reach everything (the hub writes no policy; "
        "one written before stays until deleted).",
    )
    private_ips: bool = Field(
        False,
        description="Reach private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, link-local, fc00::/7, "
        "fe80::/10): the cluster's pods and Services, the nodes, internal networks. DNS (port 53) is always allowed.",
    )
    cloud_metadata: bool = Field(
        False,
        description="Reach the cloud metadata servers (169.254.169.254, fd00:ec2::254, 100.100.100.200), "
        "which hand out the node's credentials. Stays blocked with private_ips unless true.",
    )
    hub_pods: HubPods | None = Field(
        None,
        description="The hub's pods (the chart sets this). Unset: the hub is reached at connect_url's address "
        "when it is an IP address, else through the other rules.",
    )
    istio_namespace: str = Field(
        "istio-system", description="With kubernetes.istio: where istiod runs (its sidecars' port 15012)."
    )
    allow: list[EgressAllow] = Field(default_factory=list, description="More destinations workspaces may reach.")
    policy_name: str = Field(
        "workspaces-egress",
        description="Name of the NetworkPolicy; two hubs that share namespaces need different names.",
    )

    @model_validator(mode="after")
    def _names(self) -> EgressSettings:
        for what, name in (("policy_name", self.policy_name), ("istio_namespace", self.istio_namespace)):
            if not is_dns_label(name):
                raise ValueError(f"{what} {name!r} is not a DNS-1123 label (a-z, 0-9, '-', at most 63)")
        return self


class PlaceholderSettings(Model):
    """Placeholder pods that keep room for the next starts (spawner.placeholders); each profile says how many."""

    enabled: bool = Field(
        False,
        description="Keep each profile's `placeholders` pods running, and give workspace pods workspace_priority_class. "
        "Both PriorityClasses must exist (the chart makes them).",
    )
    namespace: DnsLabel | None = Field(
        None, description="Where the placeholders run (the chart: the hub's namespace); null: kubernetes.namespace."
    )
    priority_class: DnsLabel = Field(
        "workspaces-placeholder", description="PriorityClass of the placeholders: below workspace_priority_class."
    )
    workspace_priority_class: DnsLabel = Field(
        "workspaces-default", description="PriorityClass of workspace pods, so they preempt the placeholders."
    )
    interval: float = Field(10, gt=0, description="Seconds between checks that the placeholders match the profiles.")


class PrepullSettings(Model):
    """The pre-puller (spawner.prepuller): every offered image pulled onto the nodes that can run it, as the catalog changes."""

    enabled: bool = Field(
        False,
        description="Keep one DaemonSet per placement of the profiles (node selector, tolerations, required node "
        "affinity) pulling the catalog's images there. false: the DaemonSets made before are removed.",
    )
    namespace: str | None = Field(
        None, description="Where the DaemonSets are (the chart: the hub's namespace); null: kubernetes.namespace."
    )
    pause_image: str = Field(
        "registry.k8s.io/pause:3.10",
        min_length=1,
        description="The container each pre-pull pod keeps running once its images are pulled (it uses almost nothing).",
    )
    command: list[str] = Field(
        default_factory=lambda: ["/bin/sh", "-c", "echo Pulling complete"],
        min_length=1,
        description="What each image runs once pulled, in an init container that must exit 0 (zero-to-jupyterhub's "
        "command). The images must have it: an image without it is still pulled, but its failing init container "
        "holds the pulls listed after it on that node.",
    )
    interval: float = Field(
        0.5,
        gt=0,
        le=300,
        description="Seconds between checks of the catalog (a few stat calls): an edit reaches the DaemonSets within this.",
    )
    resync: float = Field(
        60, gt=0, description="Seconds between full checks of the DaemonSets (one LIST), which restore one changed by hand."
    )

    @model_validator(mode="after")
    def _names(self) -> PrepullSettings:
        if self.namespace is not None and not is_dns_label(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a DNS-1123 label (a-z, 0-9, '-', at most 63)")
        return self


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
    autoscaling: bool = Field(
        False,
        description="The cluster adds nodes on demand (a cluster autoscaler, Karpenter): a profile no node has "
        "room for now shows 'needs a scale-up' rather than busy or never.",
    )
    egress: EgressSettings = Field(
        EgressSettings(), description="What workspaces may reach; limited by default (no metadata server, no private ranges)."
    )
    placeholders: PlaceholderSettings = Field(
        PlaceholderSettings(), description="Low-priority pods per profile that keep room for the next starts; off by default."
    )
    prepull: PrepullSettings = Field(
        PrepullSettings(), description="Pull every offered image onto the nodes that can run it, as the catalog changes; off by default."
    )

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


class GpuIdle(Model):
    """A GPU workspace whose GPUs all stay under ``below_percent`` for ``for`` is idle, busy kernel or not."""

    below_percent: float = Field(gt=0, le=100, description="Utilisation (0-100) under which a GPU counts as idle, e.g. 5.")
    for_: Duration = Field(alias="for", gt=0, description="How long every GPU must stay under it, e.g. 30m.")


class CullRule(Model):
    name: str | None = Field(None, description="How decisions name this rule; default rules[i].")
    match: CullMatch
    timeout: Duration | None = Field(None, description="Idle time after which the workspace is stopped.")
    exempt: bool = Field(False, description="Never stop what this rule matches (max_age included).")
    gpu_idle: GpuIdle | None = Field(
        None, description="Also stop a GPU workspace whose GPUs stay idle this long, even with a busy kernel."
    )

    @model_validator(mode="after")
    def _one_effect(self) -> CullRule:
        if (self.timeout is None) == (not self.exempt):
            raise ValueError("set either timeout or exempt: true")
        if self.exempt and self.gpu_idle is not None:
            raise ValueError("an exempt rule never stops anything; remove gpu_idle or exempt")
        return self


class GpuSignalSettings(Model):
    """Where the culler reads GPU utilisation for gpu_idle rules on Kubernetes (locally: nvidia-smi)."""

    prometheus_url: HttpUrl | None = Field(
        None, description="A Prometheus that scrapes the NVIDIA DCGM exporters, e.g. http://prometheus:9090."
    )
    exporter_urls: list[HttpUrl] = Field(
        default_factory=list, description="The DCGM exporters' metrics URLs, read directly, e.g. http://10.0.0.5:9400/metrics."
    )
    pod_label: str = Field("pod", description="The label naming a GPU's pod (exported_pod when Prometheus renamed it).")
    namespace_label: str = Field("namespace", description="The label naming the pod's namespace (or exported_namespace).")
    timeout: Duration = Field(10, gt=0, description="How long one read of the signal may take.")

    @model_validator(mode="after")
    def _one_source(self) -> GpuSignalSettings:
        if self.prometheus_url and self.exporter_urls:
            raise ValueError("give prometheus_url or exporter_urls, not both")
        return self


class CullingPolicy(Model):
    enabled: bool = Field(
        True, description="Stop idle workspaces (each server stops itself) and run the culler service with the hub."
    )
    default_timeout: Duration = Field(3600, description="Idle time after which a workspace is stopped.")
    rules: list[CullRule] = Field(default_factory=list, description="First match wins.")
    startup_grace: Duration = Field(
        600, description="The shortest idle timeout: a new workspace is never stopped sooner."
    )
    max_age: Duration | None = Field(None, description="Stop workspaces older than this, busy or not.")
    warn_before: Duration = Field(
        900,
        ge=0,
        description="Warn this long before a workspace stops (dashboard banner, JupyterLab notification, "
        "cull_warning in the API), e.g. 15m; 0: no warning.",
    )
    every: Duration = Field(300, gt=0, description="Time between the culler's passes.")
    concurrency: int = Field(10, ge=1, le=100, description="Hub API requests at once.")
    page_size: int = Field(200, ge=1, le=1000, description="Users per hub API page.")
    dry_run: bool = Field(
        False, description="Servers do not stop themselves; the culler reports what would be stopped."
    )
    port: Port = Field(8002, description="Loopback port of the culler's metrics and decisions.")
    gpu_signal: GpuSignalSettings = GpuSignalSettings()

    @property
    def gpu_idle_rules(self) -> list[CullRule]:
        return [rule for rule in self.rules if rule.gpu_idle is not None]


class ApiSettings(Model):
    port: Port = Field(8003, description="Loopback port of the workspaces API service (reached through the proxy).")


class QuotaLimits(Model):
    """One entry of quotas: what a user (or each member of a group) may use at once.

    A key left out: this entry does not set that limit (the next level decides);
    a key set to null: no limit.
    """

    gpus: int | None = Field(None, ge=0, description="GPUs in the user's running workspaces, all together.")
    workspaces: int | None = Field(None, ge=0, description="Workspaces running (or starting) at once.")
    storage: MemorySize | None = Field(
        None,
        description="Total storage of all the user's workspaces, running or stopped (their volumes stay), "
        "e.g. 50Gi. Kubernetes only.",
    )


class QuotaSettings(Model):
    """Budgets: how much of the scarce things (GPUs above all) each user may hold at once.

    For each limit: the user's own entry if it sets it; else the most generous
    value among the user's groups that set it; else the default; unset: no limit.
    """

    default: QuotaLimits = Field(QuotaLimits(), description="Everyone's budget, unless a group or user entry says otherwise.")
    groups: dict[str, QuotaLimits] = Field(
        default_factory=dict, description="Budgets by group; a user in several groups gets the most generous of each limit."
    )
    users: dict[str, QuotaLimits] = Field(default_factory=dict, description="Budgets of single users; these win.")

    def entries(self) -> list[tuple[str, QuotaLimits]]:
        return [("default", self.default), *((f"groups.{g}", e) for g, e in self.groups.items()),
                *((f"users.{u}", e) for u, e in self.users.items())]


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
    quotas: QuotaSettings = Field(QuotaSettings(), description="Budgets per user and group: GPUs, running workspaces, storage.")

    @model_validator(mode="after")
    def _storage_budgets_on_kubernetes(self) -> WorkspacesConfig:
        if self.backend != "kubernetes":
            for where, entry in self.quotas.entries():
                if entry.storage is not None:
                    # a local workspace is a folder with no size to add up
                    raise ValueError(f"quotas.{where}.storage applies to backend kubernetes only (local folders have no size)")
        return self

    @model_validator(mode="after")
    def _culler_port_is_free(self) -> WorkspacesConfig:
        hub = self.hub
        hub_ports = (hub.port, hub.hub_port, hub.proxy_api_port)
        if self.culling.enabled and self.culling.port in hub_ports:
            raise ValueError(f"culling.port {self.culling.port} is also one of the hub's ports")
        if self.api.port in hub_ports or (self.culling.enabled and self.api.port == self.culling.port):
            raise ValueError(f"api.port {self.api.port} is also the port of the hub, the proxy or the culler")
        return self

    @model_validator(mode="after")
    def _gpu_signal_has_a_source(self) -> WorkspacesConfig:
        signal = self.culling.gpu_signal
        if self.backend != "kubernetes" and signal.model_fields_set:
            # accepted, it would be ignored: the local culler never asks Prometheus or an exporter
            raise ValueError("culling.gpu_signal applies to backend kubernetes only (locally the culler reads nvidia-smi)")
        if self.backend == "kubernetes" and self.culling.gpu_idle_rules and not (signal.prometheus_url or signal.exporter_urls):
            raise ValueError(
                "culling rules with gpu_idle need culling.gpu_signal.prometheus_url or culling.gpu_signal.exporter_urls "
                "on the kubernetes backend (where the DCGM exporters' readings are)"
            )
        return self

    @model_validator(mode="after")
    def _one_password_for_all_only_locally(self) -> WorkspacesConfig:
        if self.backend == "kubernetes" and self.auth.type == "shared-password":
            raise ValueError(
                "auth.type shared-password is refused with backend kubernetes (anyone with the one password "
                "could log in as anyone); use auth.type native (a password per person) or oidc"
            )
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
