"""A real Workspaces hub for tests: started with `workspaces up` on free loopback ports.

Every wait is bounded; the hub and every process it left (workspace servers
and their kernels, found by their working directory) are stopped by PID.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from workspaces.config import AuthSettings

from .users_python import users_python

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"
WORKSPACES = Path(sys.executable).parent / "workspaces"

ADMIN_SCOPES = [
    "admin:users",
    "admin:servers",
    "admin:server_state",
    "admin:groups",
    "access:servers",
    "tokens",
    "access:services",
    "custom:workspaces:catalog",
    "shares",  # as the hub's own admin role: manage anyone's workspace shares
]


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Hub:
    """One hub with its own config, catalog copy and data dir under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        settings: dict[str, Any] | None = None,
        extra_config: str = "",
        catalog: Path = DATA / "catalog.yaml",
        profiles: Path = DATA / "profiles.yaml",
        env: dict[str, str] | None = None,
        os_user: str | None = None,
    ):
        """``os_user``: run the hub as this OS account (a hub without root), not as the tests' own."""
        self.root = root
        self.env = {**os.environ, **(env or {})}
        self.os_user = os_user
        self.port, self.hub_port, self.proxy_api_port, self.culler_port, self.api_port = free_ports(5)
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_token = secrets.token_hex(16)
        self.culler_token = secrets.token_hex(16)
        self.data_dir = root / "data"
        self.config_dir = root / "config"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.catalog_file = self.config_dir / "catalog.yaml"
        self.profiles_file = self.config_dir / "profiles.yaml"
        shutil.copy(catalog, self.catalog_file)
        shutil.copy(profiles, self.profiles_file)
        self.log_file = root / "hub.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._tokens: dict[str, str] = {}
        self._passwords: dict[str, str] = {}  # native: each person's own, chosen at sign-up
        self._people: set[str] = set()  # users add_person has made
        self._admin_session: requests.Session | None = None

        (self.config_dir / "extra_config.py").write_text(
            textwrap.dedent(
                f"""
                c = get_config()
                c.JupyterHub.services.append({{"name": "test-admin", "api_token": {self.admin_token!r}}})
                c.JupyterHub.load_roles.append(
                    {{"name": "test-admin", "scopes": {ADMIN_SCOPES!r}, "services": ["test-admin"]}}
                )
                # a stand-in with exactly the culler's scopes, for running passes from tests
                from culler import SCOPES as CULLER_SCOPES
                c.JupyterHub.services.append({{"name": "culler-test", "api_token": {self.culler_token!r}}})
                c.JupyterHub.load_roles.append(
                    {{"name": "culler-test", "scopes": CULLER_SCOPES, "services": ["culler-test"]}}
                )
                # notice a crashed server within a second or two
                c.Spawner.poll_interval = 1
                c.Spawner.start_timeout = 60
                """
            )
            + extra_config
        )
        config: dict[str, Any] = {
            "backend": "local",
            "hub": {
                "port": self.port,
                "hub_port": self.hub_port,
                "proxy_api_port": self.proxy_api_port,
                "extra_config": "extra_config.py",
            },
            # as root the workspaces run as their users' accounts, which must be able to run this
            # warm processes (spawner.warm) only where a test asks: each costs a server's imports
            "local": {"gpus": "none", "warm_pool": {"size": 0}},
            "culling": {"port": self.culler_port},
            "api": {"port": self.api_port},
            "catalog": "catalog.yaml",
            "profiles": "profiles.yaml",
        }
        for key, value in (settings or {}).items():
            if isinstance(value, dict):
                config.setdefault(key, {}).update(value)
            else:
                config[key] = value
        self.settings = config
        self.config_file = self.config_dir / "workspaces.yaml"
        self.config_file.write_text(yaml.safe_dump(config))
        self.log_file.touch(mode=0o600)
        if os.geteuid() == 0:
            self._data_dir_for_workspace_accounts()

    def _data_dir_for_workspace_accounts(self) -> None:
        """Workspace accounts (a hub run as root isolates) pass through the data dir to their
        folders, so it must be where others may pass: not under pytest's folders, which are 0700
        and which every pytest run (other sessions' too) sets back to 0700. What stays in
        ``root`` (the config with the test admin's token, the log with the admin's password)
        is the hub's own."""
        self.data_dir = Path(tempfile.mkdtemp(prefix="workspaces-hub-data-")).resolve()
        atexit.register(shutil.rmtree, self.data_dir, ignore_errors=True)
        self.config_dir.chmod(0o700)
        if self.os_user is not None:
            for path in [self.root, self.data_dir, self.config_dir, *self.config_dir.iterdir()]:
                shutil.chown(path, self.os_user, self.os_user)

    # -- process ------------------------------------------------------------

    def start(self, timeout: float = 60) -> Hub:
        log = open(self.log_file, "ab")
        # another account cannot run the tests' own interpreter (see users_python)
        command = [users_python(), "-m", "workspaces.cli"] if self.os_user else [str(WORKSPACES)]
        as_user = {"user": self.os_user, "group": self.os_user, "extra_groups": []} if self.os_user else {}
        self.proc = subprocess.Popen(
            [*command, "up", "--config", str(self.config_file), "--data-dir", str(self.data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            env={**self.env, "HOME": str(self.root)} if self.os_user else self.env,
            start_new_session=True,
            **as_user,
        )
        log.close()

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                return requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout, "the hub API")
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if sig == signal.SIGKILL:
            return  # a killed hub leaves its proxy behind, as in real life
        # The hub stops the proxy and the culler it started; make sure, by PID.
        self.reap()

    def reap(self) -> None:
        """Stop by PID what listens on this hub's proxy and culler ports."""
        for port in (self.port, self.proxy_api_port, self.culler_port, self.api_port):
            for pid in self._pids_listening_on(port):
                _kill(pid)

    def shutdown(self) -> None:
        """Stop every workspace, then the hub, then anything left behind."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                users = self.api("GET", "/users").json()
                for user in users:
                    for name in user.get("servers", {}):
                        self.api("DELETE", f"/users/{user['name']}/servers/{name}")
            except requests.RequestException:
                pass
        self.stop()
        self.reap()
        for pid in self.workspace_pids():
            _kill(pid)

    def workspace_pids(self) -> list[int]:
        """Processes working in one of this hub's workspace folders."""
        root = str((self.data_dir / "workspaces").resolve())
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd == root or cwd.startswith(root + "/"):
                pids.append(int(entry.name))
        return pids

    @staticmethod
    def _pids_listening_on(port: int) -> list[int]:
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                for fd in (entry / "fd").iterdir():
                    if os.readlink(fd) in {f"socket:[{i}]" for i in inodes}:
                        pids.append(int(entry.name))
                        break
            except OSError:
                continue
        return pids

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    # -- REST ---------------------------------------------------------------

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        headers = {"Authorization": f"token {token or self.admin_token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, **kwargs)

    def ws(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        """Call the workspaces API (``/services/workspaces/api/v1`` + ``path``) through the proxy."""
        kwargs.setdefault("timeout", 30)
        headers = {"Authorization": f"token {token or self.admin_token}"} if token != "" else {}
        return requests.request(method, f"{self.url}/services/workspaces/api/v1{path}", headers=headers, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        """GET anything behind the proxy (/user/..., /hub/spawn/...)."""
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        headers = {"Authorization": f"token {token or self.admin_token}"}
        return requests.get(f"{self.url}{path}", headers=headers, **kwargs)

    @property
    def auth_type(self) -> str:
        """The hub's auth.type: the config's, else the product's default."""
        return str(self.settings.get("auth", {}).get("type") or AuthSettings.model_fields["type"].default)

    def password(self, user: str) -> str:
        """The password ``user`` logs in with: admin's generated one, the shared user password
        (auth.type shared-password), or the user's own (native: chosen at sign-up)."""
        if user == "admin":
            return (self.data_dir / "admin-password").read_text().strip()
        if self.auth_type == "shared-password":
            return (self.data_dir / "user-password").read_text().strip()
        return self._passwords.setdefault(user, secrets.token_urlsafe(16))

    def sign_up(self, user: str, password: str | None = None) -> requests.Response:
        """native: ``user`` asks for an account at /hub/signup (it waits for an admin's approval)."""
        session = requests.Session()
        session.get(f"{self.url}/hub/signup", timeout=30).raise_for_status()
        password = self.password(user) if password is None else password
        return session.post(
            f"{self.url}/hub/signup",
            data={
                "username": user,
                "signup_password": password,
                "signup_password_confirmation": password,
                "_xsrf": session.cookies.get("_xsrf", ""),
            },
            timeout=30,
        )

    def admin_session(self) -> requests.Session:
        """A session of admin, logged in through the login form (once)."""
        if self._admin_session is None:
            self._admin_session = self.login("admin")
            assert self._admin_session.login_status == 302, "admin cannot log in"
        return self._admin_session

    def approve(self, user: str) -> None:
        """native: an admin approves ``user``'s sign-up at /hub/authorize."""
        # a toggle: approving twice would take the approval back
        r = self.admin_session().get(f"{self.url}/hub/authorize/{user}", timeout=30, allow_redirects=False)
        assert r.status_code == 302, (r.status_code, r.text[-500:])

    def add_person(self, user: str) -> None:
        """Make ``user`` someone who can log in: native, they sign up and an admin approves them;
        shared-password, an admin adds them."""
        if user == "admin" or user in self._people:
            return
        if self.auth_type == "shared-password":
            self.user_token(user)
        else:
            r = self.sign_up(user)
            assert "sent to the admin" in r.text, r.text[-2000:]
            self.approve(user)
        self._people.add(user)

    def login(self, user: str, password: str | None = None, create: bool = True) -> requests.Session:
        """A browser-like session logged in through the hub's login form.

        ``create``: make ``user`` someone who can log in first (add_person).
        ``session.login_status`` is 302 when the login worked.
        """
        if create:
            self.add_person(user)
        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=30).raise_for_status()
        r = session.post(
            f"{self.url}/hub/login",
            data={
                "username": user,
                "password": self.password(user) if password is None else password,
                "_xsrf": session.cookies.get("_xsrf", ""),
            },
            allow_redirects=False,
            timeout=30,
        )
        session.login_status = r.status_code  # type: ignore[attr-defined]
        return session

    def spawn_form(self, user: str, name: str) -> str:
        r = self.login(user).get(f"{self.url}/hub/spawn/{user}/{name}", timeout=30, allow_redirects=False)
        assert r.status_code == 200, (r.status_code, r.headers.get("location"))
        return r.text

    def user_token(self, name: str) -> str:
        if name not in self._tokens:
            r = self.api("POST", f"/users/{name}")
            assert r.status_code in (201, 409), r.text
            r = self.api("POST", f"/users/{name}/tokens", json={"expires_in": 3600, "note": "tests"})
            assert r.status_code == 201, r.text
            self._tokens[name] = r.json()["token"]
        return self._tokens[name]

    def server(self, user: str, name: str) -> dict[str, Any] | None:
        r = self.api("GET", f"/users/{user}", params={"include_stopped_servers": "1"})
        r.raise_for_status()
        return r.json()["servers"].get(name)

    def wait_ready(self, user: str, name: str, timeout: float = 60) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            server = self.server(user, name)
            if server and server["ready"]:
                return server
            if server and not server["pending"] and not server["ready"] and server.get("stopped"):
                raise RuntimeError(f"{user}/{name} stopped while starting:\n{self.log()[-3000:]}")
            return None

        return wait_for(ready, timeout, f"{user}/{name} to be ready")

    def wait_stopped(self, user: str, name: str, timeout: float = 30) -> None:
        def stopped() -> bool:
            server = self.server(user, name)
            return server is None or (not server["ready"] and not server["pending"])

        wait_for(stopped, timeout, f"{user}/{name} to stop")

    def wait_removed(self, user: str, name: str, timeout: float = 30) -> None:
        """After DELETE with remove: the record goes once the stop has finished."""
        wait_for(lambda: self.server(user, name) is None, timeout, f"{user}/{name} to be removed")

    def start_workspace(self, user: str, name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.api("POST", f"/users/{user}/servers/{name}", token=self.user_token(user), json=spec or {})
        assert r.status_code in (201, 202), r.text
        return self.wait_ready(user, name)

    def workspace_folder(self, user: str, name: str) -> Path:
        from spawner.local import MAX_FOLDER_NAME
        from workspaces.naming import workspace_name

        return self.data_dir / "workspaces" / workspace_name(user, name, MAX_FOLDER_NAME)

    def state(self, user: str, name: str) -> dict[str, Any]:
        server = self.server(user, name)
        assert server is not None
        return server["state"]


def _kill(pid: int, timeout: float = 5) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def process_gone(pid: int) -> bool:
    """The process has exited: no longer there, or a zombie its parent has not reaped yet.

    Every thread counts: a main thread that has ended shows as a zombie while
    the process's other threads still run."""
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            if (task / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                return False
    except OSError:  # gone, or reaped while being read
        return True
    return True


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a listening TCP socket on ``port``, as dotted IPv4 or IPv6."""
    import ipaddress

    found = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                # /proc prints each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
                found.add(str(ipaddress.ip_address(raw)))
    return found


def process_env(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def process_cgroup(pid: int) -> Path:
    """The process's cgroup v2 folder (its ``0::`` line under the cgroup2 mount; ``/`` if there is none)."""
    from spawner.limits import cgroup2_mount, unified_path

    mount = cgroup2_mount(Path("/proc/self/mountinfo").read_text()) or Path("/")
    own = unified_path(Path(f"/proc/{pid}/cgroup").read_text()) or "/"
    return mount / own.lstrip("/")


def process_data_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max data size"):
            return line.split()[3]
    raise AssertionError("no data size limit line")
