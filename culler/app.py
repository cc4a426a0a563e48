"""The culler service: runs cull passes on a timer and serves its metrics and decisions.

Run by the hub as a managed service (see config/jupyterhub_config.py), or by
hand: ``python -m culler --config workspaces.yaml --once``. It reads
JUPYTERHUB_API_TOKEN and JUPYTERHUB_API_URL like any hub service, and acts only
through the hub API with that token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from jupyterhub.services.auth import HubAuthenticated
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado import web
from tornado.ioloop import IOLoop, PeriodicCallback
from traitlets import Bool, Unicode, default
from traitlets.config import Application

from workspaces.catalog import CatalogStore
from workspaces.config import load_config
from workspaces.errors import ConfigError
from workspaces.lifetime import serve_until_stopped

from .cull import Culler
from .hub import HubClient
from .signals import signal_for


class _Authenticated(HubAuthenticated, web.RequestHandler):
    """Only callers the hub lets use this service (admins, and whom roles allow)."""

    def initialize(self, culler: Culler) -> None:
        self.culler = culler


class RootHandler(web.RequestHandler):
    """Where the hub checks that the service is up; says where the rest is."""

    def get(self) -> None:
        self.write({"service": "workspaces-culler", "endpoints": ["metrics", "api/decisions"]})


class MetricsHandler(_Authenticated):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.write(generate_latest(self.culler.metrics.registry))


class DecisionsHandler(_Authenticated):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(
            json.dumps(
                {
                    "dry_run": self.culler.policy.dry_run,
                    "decisions": self.culler.decisions_json(),
                    "culled": self.culler.culled_json(),
                }
            )
        )


class CullerApp(Application):
    name = "workspaces-culler"
    description = "Stop idle workspaces according to the culling policy in workspaces.yaml."

    config_file = Unicode("", config=True, help="workspaces.yaml with the culling policy.")
    once = Bool(False, config=True, help="Run one pass, print its report as JSON, and exit.")
    ip = Unicode(
        "127.0.0.1", config=True,
        help="Address of the metrics and decisions endpoint; beyond loopback only when the proxy runs elsewhere.",
    )
    api_url = Unicode(config=True, help="The hub API URL (default: $JUPYTERHUB_API_URL).")
    gpu_leases = Unicode(
        config=True,
        help="""The local backend's GPU leases (which GPUs each workspace holds), read by the
        GPU-idle signal. Default: $WORKSPACES_DATA_DIR/gpu-leases.json, else ./data/gpu-leases.json.""",
    )

    @default("gpu_leases")
    def _gpu_leases(self) -> str:
        return os.path.join(os.environ.get("WORKSPACES_DATA_DIR") or "data", "gpu-leases.json")

    @default("api_url")
    def _api_url(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")

    aliases = {
        "config": "CullerApp.config_file", "api-url": "CullerApp.api_url",
        "ip": "CullerApp.ip", "gpu-leases": "CullerApp.gpu_leases",
    }
    flags = {"once": ({"CullerApp": {"once": True}}, "Run one pass and exit.")}

    def fail(self, lines: list[str]) -> None:
        for line in lines:
            print(f"workspaces-culler: error: {line}", file=sys.stderr)
        self.exit(1)

    def build(self) -> Culler:
        try:
            store = CatalogStore(load_config(self.config_file or None), log=self.log)
        except ConfigError as e:
            self.fail(e.lines())
        settings = store.config.settings
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        if not token:
            self.fail(["JUPYTERHUB_API_TOKEN is not set; the culler acts with its own hub token"])
        client = HubClient(self.api_url, token, connections=settings.culling.concurrency)
        self.store = store
        signal = signal_for(settings, Path(self.gpu_leases)) if settings.culling.gpu_idle_rules else None
        return Culler(client, settings.culling, catalog=store.current(), gpu_signal=signal)

    async def one_pass(self, culler: Culler) -> Any:
        culler.catalog = self.store.current()  # profiles may have been edited
        try:
            return await culler.run_pass()
        except Exception:
            # a broken pass must not stop the service: log it and try again next time
            self.log.exception("Cull pass failed")
            return None

    def start(self) -> None:
        logging.getLogger("workspaces.culler").setLevel(logging.INFO)
        culler = self.build()
        if self.once:

            async def once() -> Any:
                try:
                    return await culler.run_pass()
                finally:
                    await close(culler)

            try:
                report = asyncio.run(once())
            except Exception as e:  # the hub is down, the token is refused, ...
                self.fail([f"cull pass failed: {type(e).__name__}: {e}"])
            print(json.dumps({"report": report.__dict__, "decisions": culler.decisions_json()}))
            return
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/culler/")
        app = web.Application(
            [
                (prefix, RootHandler),
                (prefix + "metrics", MetricsHandler, {"culler": culler}),
                (prefix + "api/decisions", DecisionsHandler, {"culler": culler}),
            ],
            cookie_secret=os.urandom(32),
        )
        port = self.store.config.settings.culling.port
        server = app.listen(port, address=self.ip)
        self.log.info("Culler serving metrics and decisions on %s:%d%s", self.ip, port, prefix)
        every_ms = culler.policy.every * 1000
        loop = IOLoop.current()
        loop.add_callback(self.one_pass, culler)
        PeriodicCallback(lambda: loop.add_callback(self.one_pass, culler), every_ms).start()
        serve_until_stopped(self.log, "the culler", [server], close=lambda: close(culler))


async def close(culler: Culler) -> None:
    """Close the culler's connections (to the hub, and to its GPU signal's source)."""
    await culler.client.close()
    if culler.gpu_watch:
        await culler.gpu_watch.close()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s culler] %(message)s")
    try:
        CullerApp.launch_instance(argv)
    except KeyboardInterrupt:
        # SIGINT while starting, before serve_until_stopped handles it: a normal way to end
        pass
