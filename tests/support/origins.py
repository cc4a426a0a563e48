"""A hub with an origin per user (``hub.subdomain_host``) on ``*.localhost`` names.

Browsers resolve every ``*.localhost`` name to loopback (RFC 6761), so the hub
is at ``http://hub.localhost:<port>``, the dashboard at
``http://workspaces--service.hub.localhost:<port>`` and alice's workspaces at
``http://alice.hub.localhost:<port>``. ``hub.localhost`` and not bare
``localhost``: the hub and its users' hosts are then one site and distinct
origins, as ``hub.example.org`` and ``alice.hub.example.org`` are, so the
browser's same-site cookie rules give no protection the real deployment lacks.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from workspaces.client import SERVICE_HOST_PREFIX

from .hub import Hub

DASHBOARD_PATH = "/services/workspaces/"


class OriginsHub(Hub):
    """A hub (not started) whose public names are ``hub.localhost`` and the names below it.

    Its logins are explicit (shared-password), whatever the default auth type is.
    """

    def __init__(self, root: Path, settings: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(root, settings={"auth": {"type": "shared-password"}, **(settings or {})}, **kwargs)
        # the port is the hub's to choose, so the name that carries it is written after
        self.public_url = f"http://hub.localhost:{self.port}"
        self.dashboard_url = f"http://{SERVICE_HOST_PREFIX}hub.localhost:{self.port}{DASHBOARD_PATH}"
        config = yaml.safe_load(self.config_file.read_text())
        config["hub"]["subdomain_host"] = self.public_url
        self.config_file.write_text(yaml.safe_dump(config))

    def server_url(self, user: str, name: str) -> str:
        return f"http://{user}.hub.localhost:{self.port}/user/{user}/{name}/"


@contextmanager
def localhost_names() -> Iterator[None]:
    """Python's resolver, as browsers do it: every ``*.localhost`` name is loopback.

    The system's resolver knows only ``localhost`` itself (no nss-myhostname here).
    """
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    with mock.patch("socket.getaddrinfo", getaddrinfo):
        yield
