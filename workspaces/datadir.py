"""The data directory: hub database, secrets, generated passwords, workspace folders.

Everything the embedded default writes lives under one folder (``./data`` in
the directory the hub is started from, by default), so a user can find it,
back it up or remove it.

Only the hub may read it. Its modes are set on every start, not only when it is
made, so a data dir from an older version or a careless ``cp -r`` is fixed too:
the folder and ``workspaces/`` are 0700, or 0711 when workspaces run as their
users' own accounts (who must pass through to their folders, without listing
them); everything else in it loses every group and other permission bit (0600
files, 0700 folders).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


class DataDir:
    def __init__(self, path: str | os.PathLike[str], *, workspaces_reachable: bool = False):
        self.path = Path(path).expanduser().resolve()
        # workspace accounts pass through the data dir to their own folders
        self.workspaces_reachable = workspaces_reachable

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.path / 'jupyterhub.sqlite'}"

    @property
    def cookie_secret_file(self) -> Path:
        return self.path / "jupyterhub_cookie_secret"

    @property
    def pid_file(self) -> Path:
        return self.path / "jupyterhub.pid"

    @property
    def proxy_pid_file(self) -> Path:
        return self.path / "jupyterhub-proxy.pid"

    def stale_proxy_pid(self) -> int | None:
        """The proxy a killed hub left running, if any (the next hub stops it)."""
        try:
            pid = int(self.proxy_pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    @property
    def workspaces(self) -> Path:
        """Parent of every workspace folder."""
        return self.path / "workspaces"

    @property
    def catalog_edits(self) -> Path:
        """Image changes admins make through the API (see workspaces.catalog_edits)."""
        return self.path / "catalog-edits.yaml"

    @property
    def gpu_leases(self) -> Path:
        """Which GPUs each running local workspace holds: the spawner writes it, the culler reads it."""
        return self.path / "gpu-leases.json"

    @property
    def api_state(self) -> Path:
        """What the API service remembers about workspaces (creation times, pending specs, failures)."""
        return self.path / "api-state.json"

    def ensure(self) -> None:
        """Make the data dir and ``workspaces/``, and set every mode in it (see the module's docstring)."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.workspaces.mkdir(exist_ok=True, mode=0o700)
        passable = 0o711 if self.workspaces_reachable else 0o700
        for folder in (self.path, self.workspaces):
            os.chmod(folder, passable)
        for entry in self.path.iterdir():
            info = entry.lstat()
            # a symlink's own mode means nothing, and chmod would act on its target
            if entry.name == "workspaces" or stat.S_ISLNK(info.st_mode):
                continue
            mode = stat.S_IMODE(info.st_mode)
            if mode & PRIVATE_UMASK:
                os.chmod(entry, mode & ~PRIVATE_UMASK)

    def secret(self, name: str, nbytes: int = 32) -> str:
        """A secret stored in the data dir (0600), generated on first use."""
        path = self.path / name
        if path.exists():
            value = path.read_text().strip()
            if value:
                return value
        value = secrets.token_urlsafe(nbytes)
        self.ensure()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
        return value

    def admin_password(self) -> str:
        # JupyterHub requires at least 32 characters; 32 bytes give 43.
        return self.secret("admin-password", 32)

    def user_password(self) -> str:
        return self.secret("user-password", 12)
