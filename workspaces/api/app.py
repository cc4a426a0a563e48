"""The ``workspaces`` hub service: the REST API under ``/services/workspaces/api/v1/``
and the dashboard page at ``/services/workspaces/``.

Run by the hub as a managed service (config/jupyterhub_config.py):
``python -m workspaces.api --config workspaces.yaml --data-dir DATA``. It reads
JUPYTERHUB_API_URL, JUPYTERHUB_SERVICE_PREFIX and JUPYTERHUB_SERVICE_URL like
any hub service; it listens on loopback only.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from pydantic import ValidationError
from tornado import web
from tornado.ioloop import IOLoop
from traitlets import Integer, List, Unicode, default
from traitlets.config import Application
from traitlets.utils.importstring import import_item

from ..catalog import CatalogStore, ImageEntry, raw_images, validate_images
from ..catalog_edits import apply_edits, read_edits, write_edits
from ..config import load_config
from ..errors import ConfigError, Issue, issues_from_pydantic
from ..naming import object_name
from ..quantity import memory_bytes
from ..spec import SpecError, resolve_spec
from . import dashboard
from . import handlers as h
from . import shares
from .capacity import ProfileCapacity
from .errors import ApiError, not_found
from .metrics import ApiMetrics
from .hub import Hub, HubRefused, path
from .state import ApiState, now
from .usage import UsageHandler
from ..lifetime import serve_until_stopped

OPENAPI = Path(__file__).with_name("openapi.json")
MAX_STREAMS = 5
ROUTES = [
    (r"workspaces", h.WorkspacesHandler),
    (r"workspaces/([^/]+)/([^/]+)", h.WorkspaceHandler),
    (r"workspaces/([^/]+)/([^/]+)/start", h.StartHandler),
    (r"workspaces/([^/]+)/([^/]+)/stop", h.StopHandler),
    (r"workspaces/([^/]+)/([^/]+)/keepalive", h.KeepaliveHandler),
    (r"workspaces/([^/]+)/([^/]+)/progress", h.ProgressHandler),
    (r"workspaces/([^/]+)/([^/]+)/shares", shares.SharesHandler),
    (r"shared", shares.SharedHandler),
    (r"images", h.ImagesHandler),
    (r"images/([^/]+)", h.ImageHandler),
    (r"images/([^/]+)/deprecate", h.DeprecateHandler),
    (r"profiles", h.ProfilesHandler),
    (r"namespaces", h.NamespacesHandler),
    (r"info", h.InfoHandler),
    (r"usage", UsageHandler),
]


class PublicHandler(web.RequestHandler):
    """No authentication; errors in the API's shape."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(ApiError(status_code, "invalid_request" if status_code < 500 else "internal_error", self._reason).body()))


class OpenAPIHandler(PublicHandler):
    """The API's description; public, like any OpenAPI document."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(OPENAPI.read_bytes())


class RootHandler(PublicHandler):
    def get(self) -> None:
        self.finish({"service": "workspaces", "openapi": "openapi.json"})


class WorkspacesService:
    """What the handlers share: the hub, the catalog, the remembered state, and the actions."""

    def __init__(self, app: WorkspacesAPI, store: CatalogStore, data_dir: Path | None):
        self.log = app.log
        self.hub = Hub(app.api_url)
        self.hub_auth = HubOAuth.instance(
            api_url=app.api_url,
            api_token=os.environ.get("JUPYTERHUB_API_TOKEN", ""),
            cache_max_age=60,
            allow_token_in_url=False,  # URLs end up in logs
        )
        self.catalog_store = store
        self.state = ApiState(data_dir / "api-state.json" if data_dir else None)
        self.edits_path = data_dir / "catalog-edits.yaml" if data_dir else None
        self.capacity = ProfileCapacity(self, data_dir)
        self._followers: set[asyncio.Task] = set()
        self._servers_per_user = 1.0  # a running average, to size the hub pages the list asks for
        self._streams: dict[str, int] = {}  # open progress streams per caller
        self.metrics = ApiMetrics()

    @contextmanager
    def stream_slot(self, caller: str) -> Iterator[None]:
        """At most MAX_STREAMS progress streams per caller at a time."""
        if self._streams.get(caller, 0) >= MAX_STREAMS:
            raise ApiError(429, "too_many_requests", f"at most {MAX_STREAMS} progress streams at a time", headers={"Retry-After": "5"})
        self._streams[caller] = self._streams.get(caller, 0) + 1
        try:
            yield
        finally:
            self._streams[caller] -= 1

    def users_for(self, workspaces: int) -> int:
        """How many users to ask the hub for, to find about ``workspaces`` workspaces in one call."""
        return max(1, min(200, int(workspaces / max(self._servers_per_user, 0.01)) + 1))

    def saw(self, users: list[dict[str, Any]]) -> None:
        if users:
            servers = sum(len([n for n in u.get("servers") or {} if n]) for u in users)
            self._servers_per_user = 0.8 * self._servers_per_user + 0.2 * (servers / len(users))

    @property
    def settings(self) -> Any:
        return self.catalog_store.config.settings

    def kept_alive(self, caller: str | None, owner: str, name: str, until: datetime) -> None:
        self.metrics.keepalives.inc()
        self.log.info("Keep-alive of %s/%s by %s: stops at %s at the earliest", owner, name, caller, until.isoformat())

    # -- specs -------------------------------------------------------------------

    def resolve(self, raw: Any, groups: list[str], prefix: str) -> dict[str, Any]:
        """The normalized spec to store, or a 400 naming each field."""
        try:
            resolved = resolve_spec(
                raw, self.catalog_store.current(), groups, self.settings.backend, self.settings.storage
            )
        except SpecError as e:
            fields = [Issue(f"{prefix}.{i.path}" if i.path else prefix, i.message) for i in e.issues]
            raise ApiError(400, "invalid_spec", "; ".join(str(f) for f in fields), fields) from None
        return resolved.user_options()

    # -- starting ----------------------------------------------------------------

    async def start(self, handler: h.APIHandler, owner: str, name: str, options: dict[str, Any] | None) -> None:
        """Start through the hub (``options`` None: the spec it has); a failure the
        cluster reports is remembered, not raised."""
        body = {} if options is None else {"user_options": options}
        answer = await handler.hub_call("POST", path("users", owner, "servers", name), json_body=body)
        if answer.status == 400 and "already running" in answer.message:
            return  # started meanwhile, by someone else or a retried request
        if answer.status == 400 and "pending" in answer.message:
            raise ApiError(409, "conflict", answer.message)
        if answer.status < 500:
            h.expect_ok(answer)
        remembered = self.state.get(owner, name)
        changes: dict[str, Any] = {"failure": None}
        if options is not None and remembered.get("next_spec") == options:
            changes["next_spec"] = None  # applied now (unless an update came in meanwhile)
        if answer.status >= 500:
            changes["failure"] = {"message": answer.message, "at": now()}
        self.state.update(owner, name, **changes)
        if answer.status == 202:
            self.follow(handler.token, owner, name)

    def follow(self, token: str, owner: str, name: str) -> None:
        """Read the hub's progress stream until the start ends, to remember a failure."""

        async def watch() -> None:
            buffer = ""
            try:
                async for chunk in self.hub.stream(token, path("users", owner, "servers", name, "progress")):
                    buffer += chunk.decode("utf-8", "replace")
                    *lines, buffer = buffer.split("\n")  # an event may arrive in pieces
                    for line in lines:
                        if not line.startswith("data:"):
                            continue
                        event = json.loads(line[5:])
                        if event.get("failed"):
                            message = str(event.get("message", "the start failed")).removeprefix("Spawn failed: ")
                            self.state.update(owner, name, failure={"message": message, "at": now()})
                            return
                        if event.get("ready"):
                            return
            except (ApiError, HubRefused, ValueError) as e:
                self.log.info("Stopped following the start of %s/%s: %s", owner, name, e)

        task = asyncio.ensure_future(watch())
        self._followers.add(task)
        task.add_done_callback(self._followers.discard)

    # -- the catalog ---------------------------------------------------------------

    def edit_images(self, handler: h.APIHandler, action: str, image_id: str | None, entry: dict[str, Any] | None) -> Any:
        """Apply one admin change, validated like the catalog file; persisted in catalog-edits.yaml."""
        if self.edits_path is None:
            raise ApiError(409, "conflict", "this hub keeps no data directory, so the catalog cannot be edited here")
        catalog = self.catalog_store.current()
        if entry is not None:
            try:
                ImageEntry.model_validate(entry)
            except ValidationError as e:
                fields = issues_from_pydantic(e, ImageEntry)
                raise ApiError(400, "invalid_request", "; ".join(str(f) for f in fields), fields) from None
        exists = catalog.image(image_id or (entry or {}).get("id", "")) is not None
        if action == "add" and exists:
            raise ApiError(409, "conflict", f"image {entry['id']!r} already exists; update it with PUT")
        if action != "add" and not exists:
            raise not_found(f"image {image_id!r}")
        if entry is not None:
            keep_environment(entry, catalog.image(image_id) if action == "update" else None)
        try:
            edits = read_edits(self.edits_path)
            data, _, _ = raw_images(self.catalog_store.source)
        except ConfigError as e:
            raise ApiError(409, "conflict", f"the catalog files cannot be read, fix them first: {e}") from None
        if action == "remove":
            edits["removed"] = [*edits["removed"], image_id]
            edits["images"] = [e for e in edits["images"] if e.get("id") != image_id]
        else:
            edits["removed"] = [i for i in edits["removed"] if i != entry["id"]]
            edits["images"] = [e for e in edits["images"] if e.get("id") != entry["id"]] + [entry]
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise ApiError(409, "conflict", "the catalog file has no images list to edit")
        try:
            validate_images({**data, "images": apply_edits(data["images"], edits)}, "the catalog")
        except ConfigError as e:
            fields = [Issue(i.path.split(".", 1)[-1] if "." in i.path else "images", i.message) for i in e.issues]
            raise ApiError(409 if action == "remove" else 400, "conflict" if action == "remove" else "invalid_request",
                           "; ".join(i.message for i in e.issues), fields) from None
        previous = self.edits_path.read_bytes() if self.edits_path.exists() else None
        write_edits(self.edits_path, edits)
        if not self.catalog_store.reload():
            # the files changed underneath; leave the edits as they were
            if previous is None:
                self.edits_path.unlink()
            else:
                self.edits_path.write_bytes(previous)
            raise ApiError(409, "conflict", f"the catalog did not load with this change: {self.catalog_store.last_error}")
        self.log.info("%s: %s image %s", handler.caller.get("name"), action, image_id or entry["id"])
        return self.catalog_store.current().image(image_id or entry["id"])

    # -- the cluster ---------------------------------------------------------------------

    @asynccontextmanager
    async def cluster(self, what: str) -> AsyncIterator[Any]:
        """A Kubernetes API client; a cluster that fails to answer is a 502, not the caller's fault."""
        from .kube import api_client

        try:
            async with await api_client() as client:
                yield client
        except ApiError:
            raise
        except Exception as e:  # no kubeconfig, RBAC, the API server down
            self.log.error("Cannot %s: %s", what, e)
            raise ApiError(502, "hub_error", f"the cluster did not answer: {type(e).__name__}") from None

    async def keep_storage(self, owner: str, name: str, running: dict[str, Any], options: dict[str, Any]) -> None:
        """Refuse a new size for a workspace whose volume exists (Kubernetes backend).

        The PVC is made at the first start, which also records the namespace in
        the spec, and is reused as it is, so a new size would be silently ignored.
        An update that leaves the size out keeps it. A workspace whose volume was
        never made (its start refused, say, by a storage quota) may change it.
        """
        namespace = running.get("namespace")
        if not namespace:
            return  # never started: nothing made yet
        if "storage" in running and "storage" not in options:
            options["storage"] = running["storage"]
        default = self.settings.storage.default_size
        wanted = options.get("storage", default)
        if memory_bytes(wanted) == memory_bytes(running.get("storage", default)):
            return
        from .kube import claim_size

        async with self.cluster("read the workspace's PersistentVolumeClaim") as client:
            size = await claim_size(client, namespace, object_name(owner, name))
        if size is not None and memory_bytes(size) != memory_bytes(wanted):
            issue = Issue(
                "spec.storage",
                f"the volume of an existing workspace keeps its size ({size}); for another size, create a new workspace",
            )
            raise ApiError(400, "invalid_spec", str(issue), [issue])

    async def namespaces_for(self, caller: dict[str, Any]) -> list[dict[str, str]]:
        settings = self.settings
        if settings.backend != "kubernetes" or caller.get("kind") != "user":
            return []
        k8s = settings.kubernetes
        if k8s.namespace_template:
            from ..naming import template_namespace

            return [{"name": template_namespace(k8s.namespace_template, caller["name"]), "role": "owner"}]
        if not k8s.kubeflow:
            return [{"name": k8s.namespace, "role": "member"}]
        from ..kubeflow import allowed_namespaces

        async with self.cluster("list Kubeflow namespaces") as client:
            found = await allowed_namespaces(client, caller["name"])
        return [{"name": a.namespace, "role": a.role} for a in found]


def keep_environment(entry: dict[str, Any], existing: ImageEntry | None) -> None:
    """Refuse an API edit that sets ``local.environment``: it may only keep the entry's own, or drop it.

    It names a file on the hub's machine that pip reads as the hub's account (root under
    ``local.isolation: users``), and pip echoes what it cannot install in the start's failure
    message (an unparseable line, or "No matching distribution found for <line>"): a catalog
    admin, who need not be the machine's operator, would read any file the hub can. So only
    whoever edits the catalog file on the machine sets it; an edit that sends it back unchanged
    (the dashboard, ``workspaces images update``) or removes it is fine.
    """
    wanted = ImageEntry.model_validate(entry).local
    environment = wanted.environment if wanted is not None else None
    own = existing.local.environment if existing is not None and existing.local is not None else None
    if environment is None or environment == own:
        return
    keep = f"keep {own!r} or remove it" if own is not None else "leave it out"
    issue = Issue(
        "local.environment",
        f"is set only in the catalog file on the hub's machine, not through the API ({keep}): it names a "
        "file the hub's account reads; list the entry's packages in local.requirements instead",
    )
    raise ApiError(400, "invalid_request", str(issue), [issue])


class WorkspacesAPI(Application):
    name = "workspaces-api"
    description = "The Workspaces REST API, a JupyterHub service."

    config_file = Unicode("", config=True, help="workspaces.yaml (catalog, profiles, backend).")
    data_dir = Unicode("", config=True, help="The hub's data directory: catalog edits and the API's state live there.")
    api_url = Unicode(config=True, help="The hub API URL (default: $JUPYTERHUB_API_URL).")
    port = Integer(0, config=True, help="Port to listen on (default: from $JUPYTERHUB_SERVICE_URL).")
    controllers = List(
        Unicode(),
        config=True,
        help="""Coroutine functions (dotted import names) run beside the API for the life of the process,
        each called with the catalog store, so that they follow the catalog and its edits: the hub's
        config names the Kubernetes backend's pre-puller and placeholders here. Named by the
        deployment, not imported by this package, which never imports the spawner.""",
    )
    ip = Unicode(
        "127.0.0.1", config=True, help="Address to listen on; beyond loopback only when the proxy runs elsewhere."
    )

    @default("api_url")
    def _api_url(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")

    @default("port")
    def _port(self) -> int:
        return urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8003")).port or 8003

    aliases = {
        "config": "WorkspacesAPI.config_file", "data-dir": "WorkspacesAPI.data_dir", "port": "WorkspacesAPI.port",
        "ip": "WorkspacesAPI.ip",
    }

    def make_app(self) -> web.Application:
        data_dir = Path(self.data_dir) if self.data_dir else None
        try:
            store = CatalogStore(
                load_config(self.config_file or None), log=self.log, edits=data_dir / "catalog-edits.yaml" if data_dir else None
            )
        except ConfigError as e:
            for line in e.lines():
                print(f"workspaces-api: error: {line}", file=sys.stderr)
            self.exit(1)
        service = WorkspacesService(self, store, data_dir)
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/workspaces/")
        api = prefix + "api/v1/"
        routes: list[Any] = [
            *dashboard.routes(prefix, service),
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
            (api, RootHandler),
            (api + "openapi.json", OpenAPIHandler),
        ]
        routes += [(api + pattern, handler, {"service": service}) for pattern, handler in ROUTES]
        routes.append((prefix + "metrics", h.MetricsHandler, {"service": service}))
        routes.append((prefix + ".*", h.NotFoundHandler, {"service": service}))
        # the OAuth cookie's signing key; browsers log in again (silently) after a restart
        app = web.Application(
            routes,
            cookie_secret=os.urandom(32),
            static_path=str(dashboard.STATIC),
            static_url_prefix=prefix + "static/",
            static_handler_class=dashboard.AssetHandler,
        )
        app.service = service  # type: ignore[attr-defined]
        return app

    def start(self) -> None:
        app = self.make_app()
        server = app.listen(self.port, address=self.ip)
        self.log.info("Workspaces API on %s:%d", self.ip, self.port)
        for name in self.controllers:
            IOLoop.current().add_callback(import_item(name), app.service.catalog_store)  # type: ignore[attr-defined]
        # Objects made at start (imports, the catalog) live as long as the process:
        # keep them out of the collector's full passes, which otherwise add tens
        # of milliseconds to an occasional request.
        gc.collect()
        gc.freeze()
        serve_until_stopped(self.log, "the workspaces API", [server], close=app.service.hub.close)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s workspaces-api] %(message)s")
    try:
        WorkspacesAPI.launch_instance(argv)
    except KeyboardInterrupt:
        # SIGINT while starting, before serve_until_stopped handles it: a normal way to end
        pass
