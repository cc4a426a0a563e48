"""A Python client of the Workspaces REST API.

The API is served by the hub's ``workspaces`` service at
``<hub>/services/workspaces/api/v1`` (with ``hub.subdomain_host``, on the service's own
host, :data:`SERVICE_HOST_PREFIX`) and described by ``workspaces/api/openapi.json``.
Every call authenticates with a JupyterHub API token::

    from workspaces.client import Client

    client = Client("http://127.0.0.1:8000", token)
    ws = client.create_workspace("analysis", image="lab", profile="small")
    ws = client.wait_ready(ws.owner, ws.name)
    print(client.workspace_url(ws))

Results are typed (frozen dataclasses built from the API's JSON; keys the client
does not know are left out, the JSON as received is kept in ``raw``). Every
4xx/5xx answer raises :class:`APIError`; a hub that cannot be reached raises
:class:`HubUnreachable`. No exception type of the HTTP library escapes.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

__all__ = [
    "API_PATH",
    "APIError",
    "Client",
    "ClientError",
    "CullWarning",
    "Deletion",
    "FieldError",
    "HubUnreachable",
    "Image",
    "Namespace",
    "NamespaceList",
    "Profile",
    "ProgressEvent",
    "Resources",
    "SERVICE_HOST_PREFIX",
    "Share",
    "ShareCode",
    "SharedWorkspace",
    "Shares",
    "Spec",
    "StartFailed",
    "Volume",
    "Workspace",
    "WorkspacePage",
    "parse_sse",
]

#: Where the service's API lives below the hub's public URL.
API_PATH = "/services/workspaces/api/v1"
#: With an origin per user (``hub.subdomain_host``) the service has a host of its
#: own: this before the hub's host (JupyterHub's "idna" name for a service).
SERVICE_HOST_PREFIX = "workspaces--service."


# -- errors -------------------------------------------------------------------


class ClientError(Exception):
    """Base class of every error this client raises."""


@dataclass(frozen=True)
class FieldError:
    """One field of a request that the API refused: a dotted ``path`` and a ``message``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


# The error code the API would have used, for answers that are not in its error shape
# (a proxy's 502, the hub's own 404 page when the service is not running).
_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "too_many_starts",
}


class APIError(ClientError):
    """The API answered with an error (any 4xx or 5xx, or an answer that is not the API's).

    ``status`` is the HTTP status, ``code`` the API's error code (``invalid_spec``,
    ``not_found``, ``stale_revision``, ...), ``message`` its message, ``fields`` the
    fields it refused, and ``retry_after`` the seconds a 429 asks to wait (else ``None``).
    ``str(error)`` is one line: the field errors when there are some, else the message.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Iterable[FieldError] = (),
        retry_after: float | None = None,
    ):
        self.status = status
        self.code = code
        self.message = message
        self.fields: list[FieldError] = list(fields)
        self.retry_after = retry_after
        super().__init__(self.summary())

    def summary(self) -> str:
        """One line: ``path: message; path: message`` or the message itself."""
        text = "; ".join(str(f) for f in self.fields) if self.fields else self.message
        text = " ".join(text.split()) or f"HTTP {self.status}"
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        return text

    def __repr__(self) -> str:
        return f"APIError(status={self.status}, code={self.code!r}, message={self.message!r}, fields={self.fields!r})"


class HubUnreachable(ClientError, ConnectionError):
    """The hub could not be reached (refused, timed out, name unknown, broken stream)."""


class StartFailed(ClientError):
    """A workspace that was waited for did not start; ``message`` says why."""

    def __init__(self, owner: str, name: str, message: str):
        self.owner = owner
        self.name = name
        self.message = message
        super().__init__(f"{owner}/{name} failed to start: {message}")


# -- results ------------------------------------------------------------------


def _datetime(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC when it names no zone), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Volume:
    """An existing PersistentVolumeClaim of the namespace, mounted at ``mount_path``."""

    claim: str
    mount_path: str
    read_only: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Volume:
        return cls(
            claim=str(data.get("claim", "")),
            mount_path=str(data.get("mount_path", "")),
            read_only=bool(data.get("read_only", False)),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"claim": self.claim, "mount_path": self.mount_path}
        if self.read_only:
            out["read_only"] = True
        return out


@dataclass(frozen=True)
class Spec:
    """What a workspace is made of; ``None`` (or an empty list) takes the catalog's default."""

    image: str | None = None
    profile: str | None = None
    gpus: int | None = None
    storage: str | None = None
    namespace: str | None = None
    volumes: tuple[Volume, ...] = ()
    custom_image: str | None = None  # a reference instead of image, where the catalog allows it
    pod_defaults: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Spec:
        data = data or {}
        return cls(
            image=_str_or_none(data.get("image")),
            profile=_str_or_none(data.get("profile")),
            gpus=data.get("gpus") if isinstance(data.get("gpus"), int) else None,
            storage=_str_or_none(data.get("storage")),
            namespace=_str_or_none(data.get("namespace")),
            volumes=tuple(Volume.from_json(v) for v in data.get("volumes") or () if isinstance(v, dict)),
            pod_defaults=tuple(str(p) for p in data.get("pod_defaults") or ()),
            custom_image=_str_or_none(data.get("custom_image")),
        )

    def to_json(self) -> dict[str, Any]:
        """The spec as the API takes it: keys that are not set are left out."""
        out: dict[str, Any] = {}
        for key in ("image", "custom_image", "profile", "gpus", "storage", "namespace"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.volumes:
            out["volumes"] = [v.to_json() for v in self.volumes]
        if self.pod_defaults:
            out["pod_defaults"] = list(self.pod_defaults)
        return out


@dataclass(frozen=True)
class CullWarning:
    """A running workspace that stops within the hub's ``culling.warn_before``: at ``at``
    (``reason`` ``idle``: :meth:`Client.keepalive_workspace` moves it; ``max_age``: nothing does)."""

    at: datetime | None
    seconds_left: int
    reason: str

    @classmethod
    def from_json(cls, data: Any) -> CullWarning | None:
        if not isinstance(data, Mapping):
            return None
        return cls(_datetime(data.get("at")), _int(data.get("seconds_left")), str(data.get("reason", "")))


@dataclass(frozen=True)
class Workspace:
    """A workspace: a JupyterHub named server with its spec.

    ``state`` is one of pending, running, stopping, stopped, failed. ``url`` is the
    server's path on the hub (see :meth:`Client.workspace_url`). ``newly_created`` is
    True when :meth:`Client.create_workspace` made it (HTTP 201), False when it already
    existed (HTTP 200) and for every other call.
    """

    owner: str
    name: str
    namespace: str | None
    spec: Spec
    revision: str
    restart_pending: bool
    state: str
    failure_reason: str | None
    url: str
    gpus: int
    created: datetime | None
    started: datetime | None
    last_activity: datetime | None
    cull_at: datetime | None = None
    cull_warning: CullWarning | None = None
    newly_created: bool = field(default=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], newly_created: bool = False) -> Workspace:
        return cls(
            owner=str(data.get("owner", "")),
            name=str(data.get("name", "")),
            namespace=_str_or_none(data.get("namespace")),
            spec=Spec.from_json(_obj(data.get("spec"))),
            revision=str(data.get("revision", "")),
            restart_pending=bool(data.get("restart_pending", False)),
            state=str(data.get("state", "")),
            failure_reason=_str_or_none(data.get("failure_reason")),
            url=str(data.get("url", "")),
            gpus=_int(data.get("gpus")),
            created=_datetime(data.get("created")),
            started=_datetime(data.get("started")),
            last_activity=_datetime(data.get("last_activity")),
            cull_at=_datetime(data.get("cull_at")),
            cull_warning=CullWarning.from_json(data.get("cull_warning")),
            newly_created=newly_created,
            raw=dict(data),
        )


@dataclass(frozen=True)
class WorkspacePage:
    """One page of workspaces; ``next`` is the cursor of the following page (``None``: last)."""

    items: list[Workspace]
    next: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Deletion:
    """The answer to a delete: ``state`` is ``"deleted"`` (HTTP 204) or ``"deleting"`` (HTTP 202)."""

    owner: str
    name: str
    state: str

    @property
    def done(self) -> bool:
        return self.state == "deleted"


@dataclass(frozen=True)
class ProgressEvent:
    """One event of a starting workspace's progress stream (JupyterHub's own events).

    The last event has ``ready`` (with ``url``) or ``failed`` (with ``message``).
    """

    progress: int | None
    message: str
    ready: bool = False
    failed: bool = False
    url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProgressEvent:
        progress = data.get("progress")
        if isinstance(progress, float):
            progress = int(progress)
        return cls(
            progress=progress if isinstance(progress, int) and not isinstance(progress, bool) else None,
            message=str(data.get("message") or ""),
            ready=bool(data.get("ready", False)),
            failed=bool(data.get("failed", False)),
            url=_str_or_none(data.get("url")),
            raw=dict(data),
        )

    @property
    def final(self) -> bool:
        return self.ready or self.failed


@dataclass(frozen=True)
class Image:
    """A catalog image. ``groups``, ``hidden``, ``pull_policy`` and ``local`` are shown to admins only."""

    id: str
    display_name: str
    description: str
    image: str
    kind: str
    gpu: bool
    default: bool
    deprecated: str | None
    available: bool
    unavailable_reason: str | None
    groups: list[str] | None = None
    hidden: bool | None = None
    pull_policy: str | None = None
    local: dict[str, Any] | None = None
    successor: str | None = None  # the id of the image that replaces a deprecated one
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Image:
        groups = data.get("groups")
        hidden = data.get("hidden")
        return cls(
            id=str(data.get("id", "")),
            display_name=str(data.get("display_name", "")),
            description=str(data.get("description") or ""),
            image=str(data.get("image", "")),
            kind=str(data.get("kind", "")),
            gpu=bool(data.get("gpu", False)),
            default=bool(data.get("default", False)),
            deprecated=_str_or_none(data.get("deprecated")),
            successor=_str_or_none(data.get("successor")),
            available=bool(data.get("available", True)),
            unavailable_reason=_str_or_none(data.get("unavailable_reason")),
            groups=[str(g) for g in groups] if isinstance(groups, list) else None,
            hidden=hidden if isinstance(hidden, bool) else None,
            pull_policy=_str_or_none(data.get("pull_policy")),
            local=data.get("local") if isinstance(data.get("local"), dict) else None,
            raw=dict(data),
        )


@dataclass(frozen=True)
class Resources:
    """A guarantee and a limit (CPU: a number of cores; memory: a quantity such as ``2Gi``)."""

    guarantee: float | str | None = None
    limit: float | str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Resources:
        data = _obj(data)
        return cls(guarantee=data.get("guarantee"), limit=data.get("limit"))


@dataclass(frozen=True)
class Profile:
    """A hardware profile: CPU, memory and GPUs."""

    id: str
    display_name: str
    description: str
    summary: str
    cpu: Resources
    memory: Resources
    gpus: int
    max_gpus: int
    default: bool
    # whether it can start now ("3 GPUs free", "no GPU free: 4 of 4 in use"); "" from an older hub
    capacity: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            id=str(data.get("id", "")),
            display_name=str(data.get("display_name", "")),
            description=str(data.get("description") or ""),
            summary=str(data.get("summary") or ""),
            cpu=Resources.from_json(data.get("cpu")),
            memory=Resources.from_json(data.get("memory")),
            gpus=_int(data.get("gpus")),
            max_gpus=_int(data.get("max_gpus")),
            default=bool(data.get("default", False)),
            capacity=str(capacity.get("message") or "") if isinstance(capacity := data.get("capacity"), dict) else "",
            raw=dict(data),
        )


@dataclass(frozen=True)
class Namespace:
    """A namespace the caller may create workspaces in, with the caller's ``role`` there."""

    name: str
    role: str


@dataclass(frozen=True)
class NamespaceList:
    """The caller's namespaces; ``backend`` is ``local`` (no namespaces) or ``kubernetes``."""

    backend: str
    items: list[Namespace]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Share:
    """Access to a workspace granted to a user or a group (``kind``)."""

    kind: str
    name: str
    created: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Share:
        return cls(str(data.get("kind", "")), str(data.get("name", "")), _datetime(data.get("created")))


@dataclass(frozen=True)
class ShareCode:
    """A share code of a workspace; ``code`` and ``accept_url`` only in the answer that made it."""

    id: str
    expires: datetime | None
    uses: int
    code: str | None = None
    accept_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShareCode:
        return cls(
            id=str(data.get("id", "")),
            expires=_datetime(data.get("expires")),
            uses=_int(data.get("uses")),
            code=_str_or_none(data.get("code")),
            accept_url=_str_or_none(data.get("full_accept_url") or data.get("accept_url")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Shares:
    """Who else has access to a workspace: users and groups, and its share codes."""

    shares: list[Share]
    codes: list[ShareCode]


@dataclass(frozen=True)
class SharedWorkspace:
    """A workspace another user shared with the caller; ``via``: the shares that grant it."""

    owner: str
    name: str
    url: str
    ready: bool
    via: list[Share]


# -- server-sent events -------------------------------------------------------


def parse_sse(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent-event stream, given its lines (without line ends).

    ``data:`` lines are joined until a blank line ends the event; comments (``:``),
    other fields and blank keep-alives are skipped, as are events whose data is not
    a JSON object.
    """
    data: list[str] = []
    for line in lines:
        if line.endswith("\r"):
            line = line[:-1]
        if line == "":
            if data:
                try:
                    event = json.loads("\n".join(data))
                except ValueError:
                    event = None
                if isinstance(event, dict) and event:
                    yield event
                data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a stream that ends without the final blank line
        try:
            event = json.loads("\n".join(data))
        except ValueError:
            return
        if isinstance(event, dict) and event:
            yield event


# -- the client ---------------------------------------------------------------


def _reason(error: requests.RequestException) -> str:
    """A short reason for a connection problem, without the HTTP library's wrapping."""
    text = str(error)
    if isinstance(error, requests.Timeout):
        return "timed out"
    m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if m:
        return m.group(1).strip().rstrip(".").lower()
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the connection was closed"
    return type(error).__name__


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _error_from(response: requests.Response) -> APIError:
    status = response.status_code
    retry_after = _retry_after(response.headers.get("Retry-After"))
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        fields = [
            FieldError(str(f.get("path", "")), str(f.get("message", "")))
            for f in error.get("fields") or ()
            if isinstance(f, dict)
        ]
        code = error.get("code")
        if not isinstance(code, str):
            code = _CODE_BY_STATUS.get(status, "hub_error")
        return APIError(status, code, error["message"], fields, retry_after)
    # Not the API's error shape: the proxy's or the hub's own page, a redirect to the login page.
    path = response.request.path_url.split("?")[0] if response.request is not None else ""
    if 300 <= status < 400:
        message = f"unexpected redirect to {response.headers.get('Location', '?')} from {path} (is the token valid?)"
    else:
        message = f"the hub answered {status} {response.reason or ''}".rstrip() + f" at {path}"
        if status in (404, 502, 503):
            message += " (is the workspaces service running?)"
    return APIError(status, _CODE_BY_STATUS.get(status, "hub_error"), message, (), retry_after)


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Lines of a byte stream (UTF-8), split at ``\n`` with a trailing ``\r`` removed."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line, buffer = buffer[:end], buffer[end + 1 :]
            yield line.rstrip(b"\r").decode("utf-8", "replace")
    if buffer:
        yield buffer.rstrip(b"\r").decode("utf-8", "replace")


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


class Client:
    """A client of the Workspaces REST API of the hub at ``url``.

    ``url`` is the hub's public URL (``http://127.0.0.1:8000``); the client appends
    :data:`API_PATH`, under the same host or, when the hub gives each service a host of
    its own, under the service's (:attr:`api_url`). ``token`` is a JupyterHub API token.
    ``timeout`` (seconds) bounds each request's connection and each wait for data.
    """

    def __init__(self, url: str, token: str, timeout: float = 30):
        url = url.strip()
        if not re.match(r"^https?://[^/]", url):
            raise ValueError(f"the hub URL must start with http:// or https://, not {url!r}")
        self.url = url.rstrip("/")
        self._api_url: str | None = None
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"token {token}"
        self._session.headers["Accept"] = "application/json"
        self._session.headers["User-Agent"] = "workspaces-client"
        self._whoami: str | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    @property
    def api_url(self) -> str:
        """The API's URL, found with one request on first use.

        A hub that routes by host (``hub.subdomain_host``) serves only its own
        pages on its host: it answers the API's path there with a redirect into
        ``/hub/``, and the API is on the service's host instead.
        """
        if self._api_url is None:
            shared = self.url + API_PATH
            try:
                answer = self._session.get(shared + "/", timeout=self.timeout, allow_redirects=False)
                answer.close()
            except requests.RequestException as e:
                raise HubUnreachable(f"cannot reach the hub at {self.url}: {_reason(e)}") from None
            hub = urlsplit(self.url)
            moved = urlsplit(answer.headers.get("Location", "")).path.startswith(hub.path + "/hub/")
            if answer.is_redirect and moved:
                self._api_url = urlunsplit(hub._replace(netloc=SERVICE_HOST_PREFIX + hub.netloc)) + API_PATH
            else:
                self._api_url = shared
        return self._api_url

    # -- transport --

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        stream: bool = False,
        timeout: float | tuple[float, float] | None = None,
        base: str | None = None,
    ) -> requests.Response:
        url = (self.api_url if base is None else base) + path
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._session.request(
                method,
                url,
                params=clean or None,
                json=json_body,
                stream=stream,
                timeout=timeout if timeout is not None else self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as e:
            raise HubUnreachable(f"cannot reach the hub at {self.url}: {_reason(e)}") from None
        if not 200 <= response.status_code < 300:
            try:
                if stream:
                    response.content  # noqa: B018 - read the error body of a stream
            except requests.RequestException:
                pass
            finally:
                error = _error_from(response)
                response.close()
            raise error
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = self._send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return response.status_code, None
        try:
            return response.status_code, response.json()
        except ValueError:
            raise APIError(
                response.status_code,
                "hub_error",
                f"the answer to {method} {path} is not JSON (is the workspaces service running?)",
            ) from None

    def _body(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        status, body = self._json(method, path, **kwargs)
        if not isinstance(body, dict):
            raise APIError(status, "hub_error", f"the answer to {method} {path} is not a JSON object")
        return body

    # -- who am I --

    def whoami(self) -> str:
        """The name of the token's user (or service), from the hub's own ``GET /hub/api/user``."""
        if self._whoami is None:
            _, body = self._json("GET", "/hub/api/user", base=self.url)
            name = body.get("name") if isinstance(body, dict) else None
            if not isinstance(name, str) or not name:
                raise APIError(200, "hub_error", "the hub did not say whom the token belongs to")
            self._whoami = name
        return self._whoami

    def workspace_url(self, workspace: Workspace | str) -> str:
        """The full URL of a workspace's server: the hub's URL joined with its ``url`` path."""
        path = workspace.url if isinstance(workspace, Workspace) else workspace
        if re.match(r"^https?://", path):
            return path
        return self.url + "/" + path.lstrip("/")

    # -- workspaces --

    def list_workspaces_page(
        self,
        owner: str | None = None,
        namespace: str | None = None,
        state: str | None = None,
        image: str | None = None,
        profile: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> WorkspacePage:
        """One page of the workspaces the caller may see, in order of owner then name.

        ``limit`` is the page size (the API's default: 100); ``after`` is the ``next``
        cursor of the previous page.
        """
        body = self._body(
            "GET",
            "/workspaces",
            params={
                "owner": owner,
                "namespace": namespace,
                "state": state,
                "image": image,
                "profile": profile,
                "limit": limit,
                "after": after,
            },
        )
        items = [Workspace.from_json(w) for w in body.get("items") or () if isinstance(w, dict)]
        following = body.get("next")
        return WorkspacePage(items=items, next=following if isinstance(following, str) and following else None, raw=body)

    def list_workspaces(
        self,
        owner: str | None = None,
        namespace: str | None = None,
        state: str | None = None,
        image: str | None = None,
        profile: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Workspace]:
        """Every workspace the caller may see that matches the filters, page by page.

        ``limit`` is the page size; the iterator follows the ``next`` cursor to the end.
        """
        after: str | None = None
        while True:
            page = self.list_workspaces_page(owner, namespace, state, image, profile, limit, after)
            yield from page.items
            if page.next is None or page.next == after:
                return
            after = page.next

    def get_workspace(self, owner: str, name: str) -> Workspace:
        """The workspace ``owner/name``; ``APIError`` with code ``not_found`` if there is none."""
        return Workspace.from_json(self._body("GET", "/workspaces" + _path(owner, name)))

    def create_workspace(
        self,
        name: str,
        *,
        image: str | None = None,
        profile: str | None = None,
        gpus: int | None = None,
        storage: str | None = None,
        namespace: str | None = None,
        volumes: Iterable[Volume | Mapping[str, Any]] | None = None,
        pod_defaults: Iterable[str] | None = None,
        owner: str | None = None,
        spec: Spec | Mapping[str, Any] | None = None,
        custom_image: str | None = None,
    ) -> Workspace:
        """Create the workspace ``name`` (of ``owner``, default: the caller) and start it.

        ``spec`` is a base spec; the keyword arguments that are not ``None`` override its
        keys. The same request again returns the existing workspace: ``newly_created``
        on the result tells which (HTTP 201 or 200).
        """
        body: dict[str, Any] = {"name": name}
        if owner is not None:
            body["owner"] = owner
        merged = _spec_json(spec)
        for key, value in (
            ("image", image),
            ("custom_image", custom_image),
            ("profile", profile),
            ("gpus", gpus),
            ("storage", storage),
            ("namespace", namespace),
        ):
            if value is not None:
                merged[key] = value
        if volumes is not None:
            merged["volumes"] = [v.to_json() if isinstance(v, Volume) else dict(v) for v in volumes]
        if pod_defaults is not None:
            merged["pod_defaults"] = list(pod_defaults)
        if merged:
            body["spec"] = merged
        status, data = self._json("POST", "/workspaces", json_body=body)
        if not isinstance(data, dict):
            raise APIError(status, "hub_error", "the answer to POST /workspaces is not a JSON object")
        return Workspace.from_json(data, newly_created=status == 201)

    def update_workspace(self, owner: str, name: str, spec: Spec | Mapping[str, Any], revision: str) -> Workspace:
        """Change the spec of ``owner/name``, based on ``revision`` (the workspace's ``revision``).

        The change applies at the next start (``restart_pending`` says whether a running
        workspace must be restarted). A stale revision raises ``APIError`` with code
        ``stale_revision``.
        """
        body = {"spec": _spec_json(spec), "revision": revision}
        return Workspace.from_json(self._body("PATCH", "/workspaces" + _path(owner, name), json_body=body))

    def start_workspace(self, owner: str, name: str) -> Workspace:
        """Start ``owner/name`` with its current spec; it is running or pending afterwards."""
        return Workspace.from_json(self._body("POST", "/workspaces" + _path(owner, name, "start")))

    def stop_workspace(self, owner: str, name: str) -> Workspace:
        """Stop ``owner/name``; its storage and spec are kept."""
        return Workspace.from_json(self._body("POST", "/workspaces" + _path(owner, name, "stop")))

    def keepalive_workspace(self, owner: str, name: str) -> Workspace:
        """Keep ``owner/name`` running: it stops one idle timeout from now at the earliest, never
        past the hub's max_age. Needs the permission to stop it; a stopped workspace is a
        409 (``not_running``), and one max_age stops sooner is a 409 (``max_age``)."""
        return Workspace.from_json(self._body("POST", "/workspaces" + _path(owner, name, "keepalive")))

    def delete_workspace(self, owner: str, name: str) -> Deletion:
        """Delete ``owner/name`` and its storage (stopping it first)."""
        status, _ = self._json("DELETE", "/workspaces" + _path(owner, name))
        return Deletion(owner, name, "deleted" if status == 204 else "deleting")

    def wait_deleted(self, owner: str, name: str, timeout: float = 60, interval: float = 0.5) -> None:
        """Wait until ``owner/name`` is gone (after a delete answered ``deleting``).

        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get_workspace(owner, name)
            except APIError as e:
                if e.status == 404:
                    return
                raise
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{owner}/{name} was not deleted within {timeout:g} s")
            time.sleep(interval)

    def progress(self, owner: str, name: str, timeout: float | None = None) -> Iterator[ProgressEvent]:
        """The progress events of ``owner/name`` while it starts, up to the ``ready`` or
        ``failed`` event (included).

        ``timeout`` bounds the wait for each piece of data (default: the client's timeout);
        an interrupted stream raises :class:`HubUnreachable`.
        """
        read_timeout = self.timeout if timeout is None else timeout
        response = self._send(
            "GET",
            "/workspaces" + _path(owner, name, "progress"),
            stream=True,
            timeout=(self.timeout, read_timeout),
        )
        try:
            # One byte at a time: a read never waits for more than the server has sent.
            for data in parse_sse(_lines(response.iter_content(chunk_size=1))):
                event = ProgressEvent.from_json(data)
                yield event
                if event.final:
                    return
        except requests.RequestException as e:
            raise HubUnreachable(f"the progress stream of {owner}/{name} was interrupted: {_reason(e)}") from None
        finally:
            response.close()

    def wait_ready(
        self,
        owner: str,
        name: str,
        on_event: Callable[[ProgressEvent], None] | None = None,
        timeout: float = 300,
    ) -> Workspace:
        """Wait until ``owner/name`` runs, following its progress stream, and return it.

        ``on_event`` gets each progress event. Raises :class:`StartFailed` when the start
        fails or the workspace is not starting, and ``TimeoutError`` after ``timeout``
        seconds.
        """
        deadline = time.monotonic() + timeout

        def remaining() -> float:
            return deadline - time.monotonic()

        while True:
            workspace = self.get_workspace(owner, name)
            if workspace.state == "running":
                return workspace
            if workspace.state == "failed":
                raise StartFailed(owner, name, workspace.failure_reason or "the start failed")
            if workspace.state != "pending":
                raise StartFailed(owner, name, f"it is {workspace.state}, not starting")
            if remaining() <= 0:
                raise TimeoutError(f"{owner}/{name} was not ready within {timeout:g} s")
            try:
                for event in self.progress(owner, name, timeout=max(1.0, min(remaining(), self.timeout))):
                    if on_event is not None:
                        on_event(event)
                    if event.failed:
                        raise StartFailed(owner, name, event.message or "the start failed")
                    if event.ready:
                        ready = self.get_workspace(owner, name)
                        if ready.state == "running":
                            return ready
                        break
                    if remaining() <= 0:
                        break
            except HubUnreachable:
                pass  # a broken or idle stream: look at the workspace again
            except APIError as e:
                if e.status in (401, 403, 404):
                    raise
                # 400/409: not starting (any more); the state says why
            if remaining() <= 0:
                raise TimeoutError(f"{owner}/{name} was not ready within {timeout:g} s")
            time.sleep(min(0.5, max(0.0, remaining())))

    # -- images --

    def list_images(self) -> list[Image]:
        """The images the caller may use (admins: all, with their rules)."""
        body = self._body("GET", "/images")
        return [Image.from_json(i) for i in body.get("items") or () if isinstance(i, dict)]

    def get_image(self, id: str) -> Image:
        """The image ``id``."""
        return Image.from_json(self._body("GET", "/images" + _path(id)))

    def add_image(self, entry: Mapping[str, Any]) -> Image:
        """Add a catalog entry (admin); ``entry`` has at least ``id``, ``display_name``, ``image``."""
        return Image.from_json(self._body("POST", "/images", json_body=dict(entry)))

    def update_image(self, id: str, entry: Mapping[str, Any]) -> Image:
        """Replace the entry of image ``id`` (admin); ``entry``'s ``id`` defaults to ``id``."""
        body = {"id": id, **dict(entry)}
        return Image.from_json(self._body("PUT", "/images" + _path(id), json_body=body))

    def deprecate_image(self, id: str, message: str, use: str | None = None) -> Image:
        """Deprecate image ``id`` with a message shown to users (admin); ``use``: the id of its successor."""
        body = {"message": message} if use is None else {"message": message, "use": use}
        return Image.from_json(self._body("POST", "/images" + _path(id, "deprecate"), json_body=body))

    def remove_image(self, id: str) -> None:
        """Remove image ``id`` (admin); workspaces that use it keep their spec."""
        self._json("DELETE", "/images" + _path(id))

    # -- sharing --

    def shares(self, owner: str, name: str) -> Shares:
        """Who else has access to ``owner/name`` (its owner and admins may ask)."""
        body = self._body("GET", "/workspaces" + _path(owner, name, "shares"))
        return Shares(
            [Share.from_json(s) for s in body.get("shares") or () if isinstance(s, dict)],
            [ShareCode.from_json(c) for c in body.get("codes") or () if isinstance(c, dict)],
        )

    def share(self, owner: str, name: str, *, user: str | None = None, group: str | None = None) -> Share:
        """Give one ``user`` or one ``group`` access to ``owner/name``."""
        if (user is None) == (group is None):
            raise ValueError("share with exactly one of user or group")
        body = {"user": user} if user is not None else {"group": group}
        return Share.from_json(self._body("POST", "/workspaces" + _path(owner, name, "shares"), json_body=body))

    def share_code(self, owner: str, name: str, expires_in: int = 86400) -> ShareCode:
        """A new share code of ``owner/name``, working for ``expires_in`` seconds; ``accept_url`` is absolute."""
        path = "/workspaces" + _path(owner, name, "shares")
        code = ShareCode.from_json(self._body("POST", path, json_body={"code": {"expires_in": expires_in}}))
        if code.accept_url and not re.match(r"^https?://", code.accept_url):
            code = ShareCode(code.id, code.expires, code.uses, code.code, self.url + code.accept_url, code.raw)
        return code

    def unshare(
        self, owner: str, name: str, *, user: str | None = None, group: str | None = None, code: str | None = None,
        all: bool = False,
    ) -> None:
        """Revoke one user's, one group's or one code's (by id) access to ``owner/name``, or ``all``."""
        named = {k: v for k, v in (("user", user), ("group", group), ("code", code), ("all", all or None)) if v is not None}
        if len(named) != 1:
            raise ValueError("unshare exactly one of user, group, code, or all")
        self._json("DELETE", "/workspaces" + _path(owner, name, "shares"), json_body=named)

    def shared_with_me(self) -> list[SharedWorkspace]:
        """Workspaces other users shared with the caller (directly or through a group)."""
        items = self._body("GET", "/shared").get("items") or ()
        return [
            SharedWorkspace(
                str(i.get("owner", "")), str(i.get("name", "")), str(i.get("url", "")), bool(i.get("ready")),
                [Share.from_json(v) for v in i.get("via") or () if isinstance(v, dict)],
            )
            for i in items
            if isinstance(i, dict)
        ]

    # -- profiles and namespaces --

    def list_profiles(self) -> list[Profile]:
        """The hardware profiles the caller may use."""
        body = self._body("GET", "/profiles")
        return [Profile.from_json(p) for p in body.get("items") or () if isinstance(p, dict)]

    def list_namespaces(self) -> NamespaceList:
        """The namespaces the caller may create workspaces in (none on the local backend)."""
        body = self._body("GET", "/namespaces")
        items = [
            Namespace(str(n.get("name", "")), str(n.get("role", "")))
            for n in body.get("items") or ()
            if isinstance(n, dict)
        ]
        return NamespaceList(backend=str(body.get("backend", "")), items=items, raw=body)


def _spec_json(spec: Spec | Mapping[str, Any] | None) -> dict[str, Any]:
    if spec is None:
        return {}
    if isinstance(spec, Spec):
        return spec.to_json()
    out = dict(spec)
    if "volumes" in out and out["volumes"] is not None:
        out["volumes"] = [v.to_json() if isinstance(v, Volume) else dict(v) for v in out["volumes"]]
    return out
