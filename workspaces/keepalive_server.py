"""A jupyter-server extension: keep-alives reach the server's own culling, and JupyterLab hears of a coming stop.

Idle workspaces stop themselves (jupyter-server's ``shutdown_no_activity_timeout``,
set by the spawner), so a keep-alive made on the dashboard or the API must move
the server's own idea of its last activity. The API records a keep-alive as
activity of the server on the hub; this extension pulls the server's model from
the hub with the server's OWN token (``JUPYTERHUB_API_TOKEN``, whose scopes
cover this server only) and, when the hub's last activity is later than the
server's, records it as activity here. Nothing of anyone else's is ever sent to
the server: it asks, nobody calls it.

It also serves the coming stop to the JupyterLab extension (``warning``, read
without counting as activity) and a keep-alive from inside JupyterLab
(``keepalive``: a request of the owner's, so it is activity here, which is also
reported to the hub at once).

Enabled by the spawner's arguments (``jpserver_extensions``); a server without
this package logs that the extension is missing and runs as before.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import IOLoop, PeriodicCallback
from traitlets import Float
from traitlets.config import Configurable

# The setting jupyter-server's last_activity() counts (any setting ending in _last_activity).
ACTIVITY_SETTING = "workspaces_keepalive_last_activity"
ROUTE = "workspaces-keepalive"


class WorkspacesKeepalive(Configurable):
    """Settings the spawner passes (``--WorkspacesKeepalive.warn_before=900``)."""

    warn_before = Float(900, config=True, help="Seconds before the stop when the JupyterLab notification shows; 0: none.")
    max_age = Float(0, config=True, help="culling.max_age in seconds: the stop no keep-alive moves; 0: none.")
    interval = Float(
        0,
        config=True,
        help="Seconds between reads of the hub's last activity; 0: a tenth of the idle timeout, from 1 to 60.",
    )


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class Keepalive:
    """The server's side of keep-alives: the hub's figure pulled in, the warning computed."""

    def __init__(self, serverapp: Any, settings: WorkspacesKeepalive, env: dict[str, str]):
        self.serverapp = serverapp
        self.settings = settings
        self.api_url = env.get("JUPYTERHUB_API_URL", "").rstrip("/")
        self.token = env.get("JUPYTERHUB_API_TOKEN", "")
        self.user = env.get("JUPYTERHUB_USER", "")
        self.server_name = env.get("JUPYTERHUB_SERVER_NAME", "")
        self.started: datetime | None = None
        self.log = serverapp.log

    @property
    def under_hub(self) -> bool:
        return bool(self.api_url and self.token and self.user)

    @property
    def timeout(self) -> float:
        return float(getattr(self.serverapp, "shutdown_no_activity_timeout", 0) or 0)

    @property
    def interval(self) -> float:
        if self.settings.interval > 0:
            return self.settings.interval
        return max(1.0, min(60.0, (self.timeout or 600) / 10))

    def _server_path(self) -> str:
        return f"/users/{quote(self.user, safe='')}/servers/{quote(self.server_name, safe='')}"

    async def _hub(self, method: str, route: str, body: Any = None) -> Any:
        request = HTTPRequest(
            self.api_url + route,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body),
            request_timeout=20,
        )
        response = await AsyncHTTPClient().fetch(request)
        return json.loads(response.body or b"null")

    def last_activity(self) -> datetime:
        return self.serverapp.web_app.last_activity()

    def record(self, when: datetime) -> None:
        """Activity at ``when``: the server's own culling counts from it, and so does kernel culling
        (the owner asked to keep the workspace as it is, its kernels with it)."""
        web_settings = self.serverapp.web_app.settings
        current = web_settings.get(ACTIVITY_SETTING)
        if current is None or when > current:
            web_settings[ACTIVITY_SETTING] = when
        for kernel_id in list(self.serverapp.kernel_manager.list_kernel_ids()):
            kernel = self.serverapp.kernel_manager.get_kernel(kernel_id)
            last = getattr(kernel, "last_activity", None)
            if last is None or when > last:
                kernel.last_activity = when

    async def pull(self) -> None:
        """Take the hub's last activity of this server when it is later than the server's own."""
        model = await self._hub("GET", self._server_path())
        if not isinstance(model, dict):
            return
        self.started = _parse(model.get("started")) or self.started
        hub_last = _parse(model.get("last_activity"))
        if hub_last is not None and hub_last > self.last_activity():
            self.log.info("Workspaces keep-alive: activity on the hub at %s; the idle timeout counts from it", _iso(hub_last))
            self.record(min(hub_last, datetime.now(timezone.utc)))

    async def report(self, when: datetime) -> None:
        """Tell the hub at once (the server's own token may post its activity)."""
        body = {"servers": {self.server_name: {"last_activity": _iso(when)}}}
        await self._hub("POST", f"/users/{quote(self.user, safe='')}/activity", body)

    async def tick(self) -> None:
        try:
            await self.pull()
        except Exception as e:  # the hub may restart; the server runs on
            self.log.warning("Workspaces keep-alive: could not read this server's activity from the hub: %s", e)

    def start(self) -> None:
        PeriodicCallback(lambda: IOLoop.current().spawn_callback(self.tick), self.interval * 1000).start()
        self.log.info("Workspaces keep-alive: reading this server's activity from the hub every %.0fs", self.interval)

    def warning(self, now: datetime) -> dict[str, Any] | None:
        """The coming stop, as the API's cull_warning shows it; None when not within warn_before."""
        if self.timeout <= 0 or self.settings.warn_before <= 0:
            return None
        at, reason = self.last_activity() + timedelta(seconds=self.timeout), "idle"
        if self.settings.max_age > 0 and self.started is not None:
            end = self.started + timedelta(seconds=self.settings.max_age)
            if end <= at:
                at, reason = end, "max_age"
        left = (at - now).total_seconds()
        if left > self.settings.warn_before:
            return None
        return {"at": _iso(at), "seconds_left": int(max(0, left)), "reason": reason}


class WarningHandler(APIHandler):
    """GET: the coming stop. Asking is not activity: a JupyterLab left open asks every 30 s."""

    _track_activity = False

    @web.authenticated
    def get(self) -> None:
        keepalive: Keepalive = self.settings["workspaces_keepalive"]
        self.finish(json.dumps({"warning": keepalive.warning(datetime.now(timezone.utc))}))


class KeepaliveHandler(APIHandler):
    """POST: keep running. The owner's request is activity in itself; the hub hears of it at once."""

    @web.authenticated
    async def post(self) -> None:
        keepalive: Keepalive = self.settings["workspaces_keepalive"]
        now = datetime.now(timezone.utc)
        keepalive.record(now)
        if keepalive.under_hub:
            try:
                await keepalive.report(now)
            except Exception as e:  # the server's own culling has it already
                self.log.warning("Workspaces keep-alive: could not report activity to the hub: %s", e)
        self.finish(json.dumps({"warning": keepalive.warning(now)}))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "workspaces.keepalive_server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    keepalive = Keepalive(serverapp, WorkspacesKeepalive(parent=serverapp), dict(os.environ))
    web_app = serverapp.web_app
    web_app.settings["workspaces_keepalive"] = keepalive
    base = url_path_join(web_app.settings["base_url"], ROUTE)
    web_app.add_handlers(".*$", [(base + "/warning", WarningHandler), (base + "/keepalive", KeepaliveHandler)])
    if keepalive.under_hub:
        keepalive.start()
