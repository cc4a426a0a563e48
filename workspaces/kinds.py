"""Workspace kinds: what each kind of server carries, in one table.

A catalog entry's ``kind`` (jupyterlab, vscode, rstudio) brings the kind's
defaults, much as Kubeflow Notebooks v2's WorkspaceKind carries a port, a URL,
environment and probes: where a person lands, the jupyter-server-proxy entry
that serves the program, environment for it, the activity it reports, and what
the local backend must find to run it. An entry may override the landing URL
and add environment (``kind_options``). Both backends, the spawn form, the
dashboard and the API read the table through :func:`resolve_kind`.

VS Code and RStudio run inside a normal jupyterhub-singleuser server:
jupyter-server-proxy starts them on first request behind the server's own
(hub-authenticated) login, so their own logins are off and they must never
listen where anyone else could reach them.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from .config import REPO_ROOT, Model

KindName = Literal["jupyterlab", "vscode", "rstudio"]

# npm installs code-server here (`make install`); the local backend puts it on the server's PATH
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"


@dataclass(frozen=True)
class Kind:
    """One kind's defaults (or an entry's, with its overrides applied)."""

    name: str
    display_name: str
    url: str  # where a person lands, relative to the server's base URL
    server_proxy: str | None  # the jupyter-server-proxy entry that serves it; None: the server itself
    activity: str  # what counts as use, for the idle culling, in words
    env: dict[str, str] = field(default_factory=dict)
    # the local backend: the program it runs (None: the Python runtime alone), and where else to look for it
    local_program: str | None = None
    local_paths: tuple[Path, ...] = ()
    local_missing: str = ""  # how to get the program, for the unavailable reason

    def local_path(self, path: str | None = None) -> str:
        """``path`` ($PATH) with the kind's own folders first: where the proxy looks for the program."""
        search = [str(p) for p in self.local_paths]
        return os.pathsep.join([*search, path if path is not None else os.environ.get("PATH", os.defpath)])

    def find_local_program(self, path: str | None = None) -> str | None:
        if self.local_program is None:
            return None
        return shutil.which(self.local_program, path=self.local_path(path))

    def unavailable_locally(self) -> str | None:
        """Why the local backend cannot run this kind here; None: it can."""
        if self.local_program is None or self.find_local_program():
            return None
        return f"{self.display_name} needs {self.local_program!r}, which is not installed on this machine ({self.local_missing})"

    def public(self) -> dict[str, Any]:
        """What the API and the dashboard show everyone about the kind (its environment, which an
        admin may have put a value in that is not for users, only admins see)."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "url": self.url,
            "server_proxy": self.server_proxy,
            "activity": self.activity,
        }


KINDS: dict[str, Kind] = {
    "jupyterlab": Kind(
        name="jupyterlab",
        display_name="JupyterLab",
        url="/lab",
        server_proxy=None,
        activity="kernels, terminals and API requests of the Jupyter server",
    ),
    "vscode": Kind(
        name="vscode",
        display_name="VS Code",
        url="/vscode/",
        server_proxy="vscode",  # jupyter-vscode-proxy
        activity="proxied traffic via jupyter-server-proxy (every request and websocket message to /vscode/)",
        env={
            "CODE_EXECUTABLE": "code-server",
            # code-server runs with --auth none behind the server's login: on a Unix socket in a
            # private folder (mode 0600), not a TCP port that any local account could reach
            "JUPYTER_VSCODE_PROXY_USE_SOCKET": "yes",
        },
        local_program="code-server",
        local_paths=(NODE_BIN,),
        local_missing="`make install` installs it from npm into node_modules/",
    ),
    "rstudio": Kind(
        name="rstudio",
        display_name="RStudio",
        url="/rstudio/",
        server_proxy="rstudio",  # jupyter-rsession-proxy
        activity="proxied traffic via jupyter-server-proxy (every request and websocket message to /rstudio/)",
        # jupyter-rsession-proxy's default, stated: rserver on a Unix socket, never a TCP port
        env={"JUPYTER_RSESSION_PROXY_USE_SOCKET": "yes"},
        local_program="rserver",
        # where the rstudio-server package puts it (jupyter-rsession-proxy looks there too)
        local_paths=(Path("/usr/lib/rstudio-server/bin"),),
        local_missing="install RStudio Server from Posit's .deb; Debian does not package it",
    ),
}

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# set by the hub or the backend for every server: an entry must not replace them (the server's
# credentials and URLs, its account, its GPUs); how often it reports activity to the hub is a setting
_RESERVED_ENV = re.compile(
    r"^((?!JUPYTERHUB_ACTIVITY_INTERVAL$)JUPYTERHUB_.*|PATH|HOME|USER|LOGNAME|SHELL|JPY_API_TOKEN|CUDA_VISIBLE_DEVICES)$"
)


class KindOptions(Model):
    """An entry's changes to its kind's defaults (catalog key ``kind_options``)."""

    url: str | None = Field(
        None, description="Where a person lands, a path under the server, e.g. /vscode/?folder=/home/jovyan/project."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment for the server, added to (and overriding) the kind's own."
    )

    @field_validator("url")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        # a path on the server: a scheme or host would send people off the hub
        if value is not None and (not value.startswith("/") or value.startswith("//") or "\\" in value or ".." in value):
            raise ValueError(f"must be a path on the server starting with '/', such as /vscode/, not {value!r}")
        return value

    @field_validator("env")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an environment variable name (letters, digits and '_')")
            if _RESERVED_ENV.match(name):
                raise ValueError(f"{name} is set by the hub for every server and cannot be changed here")
        return value


def resolve_kind(name: str, options: KindOptions | None = None) -> Kind:
    """The kind's defaults with an entry's overrides applied."""
    kind = KINDS[name]
    if options is None:
        return kind
    return replace(kind, url=options.url or kind.url, env={**kind.env, **options.env})
