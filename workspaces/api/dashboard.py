"""The dashboard: one page and its static assets, served by the ``workspaces`` service.

The page is a shell; everything it shows comes from the REST API, with the
caller's own OAuth cookie and JupyterHub's xsrf check, so the page can do
nothing its user could not do with the API.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jupyterhub.services.auth import HubOAuthenticated
from tornado import web

HERE = Path(__file__).parent
STATIC = HERE / "static"
_TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))

# Everything the page loads comes from the service itself: no inline script,
# no third-party host, nothing that could run text a user typed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)


class DashboardHandler(HubOAuthenticated, web.RequestHandler):
    """The page, for a logged-in hub user; anyone else goes through the hub's login."""

    def initialize(self, service: Any, prefix: str) -> None:
        self.hub_auth = service.hub_auth
        self.prefix = prefix

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")

    @web.authenticated
    def get(self) -> None:
        hub_prefix = hub_url()
        xsrf = self.xsrf_token
        self.finish(
            _TEMPLATES.get_template("dashboard.html").render(
                prefix=self.prefix,
                static=self.static_url,
                hub_prefix=hub_prefix,
                user=self.current_user["name"],
                xsrf=xsrf.decode() if isinstance(xsrf, bytes) else xsrf,
            )
        )


def hub_url() -> str:
    """The hub's pages, as the page links to them: with an origin per user
    (hub.subdomain_host) this service has a host of its own, so the hub's
    public URL; else the path under the shared origin."""
    return os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL") or os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/hub/"


class AssetHandler(web.StaticFileHandler):
    """The page's scripts, styles and icons; versioned URLs are cached, the rest revalidated."""

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")


def routes(prefix: str, service: Any) -> list[Any]:
    """The page; its assets are the application's static files (static_path, under prefix/static/)."""
    return [(prefix, DashboardHandler, {"service": service, "prefix": prefix})]
