"""Everything the hub needs before it starts, shared by ``workspaces up`` and
``config/jupyterhub_config.py``: the checked config and catalog, the data
directory with its generated secrets, and the proxy to run."""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from .catalog import Catalog, load_catalog
from .config import DEFAULT_CONFIG, REPO_ROOT, LoadedConfig, load_config
from .datadir import PRIVATE_UMASK, DataDir

HUB_CONFIG = REPO_ROOT / "config" / "jupyterhub_config.py"


class LaunchError(Exception):
    """Something outside the config file prevents the start (one line)."""


@dataclass
class Launch:
    config: LoadedConfig
    catalog: Catalog
    data: DataDir
    port: int

    @property
    def url(self) -> str:
        """Where people open the hub (its origin, ending in /)."""
        if self.config.settings.hub.subdomain_host:
            # the proxy answers for the hub only under this name (it routes by host)
            return self.config.settings.hub.subdomain_host + "/"
        ip = self.config.settings.hub.ip
        host = "127.0.0.1" if ip in ("", "0.0.0.0") else ip
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def admin_user(self) -> str:
        return self.config.settings.auth.admin_users[0]

    @property
    def admin_password(self) -> str:
        """native: the admin accounts' first password; shared-password: the admins' password."""
        return self.config.settings.auth.admin_password or self.data.admin_password()

    @property
    def user_password(self) -> str:
        return self.config.settings.auth.user_password or self.data.user_password()


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """--config, else $WORKSPACES_CONFIG, else config/workspaces.yaml if present."""
    path = explicit or os.environ.get("WORKSPACES_CONFIG")
    if path:
        return Path(path).resolve()
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def prepare(
    config: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    port: int | None = None,
) -> Launch:
    """Check the config and catalog (raising ConfigError) and lay out the data dir."""
    loaded = load_config(config_path(config))
    catalog = load_catalog(loaded)
    if data_dir is None:
        configured = loaded.settings.hub.data_dir
        data_dir = loaded.resolve(configured) if configured else Path.cwd() / "data"
    settings = loaded.settings
    isolation = settings.local.isolation_mode(os.geteuid())
    if settings.backend == "local" and isolation == "users" and os.geteuid() != 0:
        raise LaunchError(
            "local.isolation users needs the hub to run as root (it runs each user's workspaces as their own "
            "OS account); start it as root, or set local.isolation to auto or none"
        )
    data = DataDir(data_dir, workspaces_reachable=settings.backend == "local" and isolation == "users")
    launch = Launch(loaded, catalog, data, port or loaded.settings.hub.port)
    # What the hub and its services write into the data dir later (the database,
    # pid files, the API's state) is private from its first byte.
    os.umask(PRIVATE_UMASK)
    try:
        data.ensure()
        # Generate the passwords this auth type uses now, so they exist before anyone needs them.
        auth_type = loaded.settings.auth.type
        if auth_type in ("native", "shared-password"):
            launch.admin_password  # noqa: B018
        if auth_type == "shared-password":
            launch.user_password  # noqa: B018
    except OSError as e:
        raise LaunchError(f"cannot use {data.path} as the data directory: {e.strerror}") from None
    return launch


def proxy_command() -> list[str]:
    """configurable-http-proxy: the project's npm install, else one on PATH."""
    local = REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return [str(local)]
    found = shutil.which("configurable-http-proxy")
    if found:
        return [found]
    raise LaunchError(
        "configurable-http-proxy is not installed: run `make install` (or `npm install configurable-http-proxy`)"
    )


def check_ports_free(launch: Launch) -> None:
    """Fail with one line, not a proxy traceback, when a port is taken."""
    hub = launch.config.settings.hub
    ports = [("hub_port", hub.hub_ip, hub.hub_port)]
    # A proxy left by a killed hub holds these two; JupyterHub stops it at start.
    if launch.data.stale_proxy_pid() is None:
        ports += [("port", hub.ip, launch.port), ("proxy_api_port", "127.0.0.1", hub.proxy_api_port)]
    if launch.config.settings.culling.enabled:
        ports.append(("culling.port", "127.0.0.1", launch.config.settings.culling.port))
    ports.append(("api.port", "127.0.0.1", launch.config.settings.api.port))
    for what, ip, port in ports:
        with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
            # SO_REUSEADDR: a port in TIME_WAIT after a restart is free to the hub too
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, port))
            except OSError:
                raise LaunchError(
                    f"{ip}:{port} ({what}) is already in use; is another hub running? "
                    f"Choose another with --port or {what if '.' in what else 'hub.' + what} in the config file"
                ) from None
