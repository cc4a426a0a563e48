"""A hub whose catalog has a VS Code entry the local backend runs, and what its code-server does.

code-server is the project's own (``make install``: npm, node_modules/.bin), started by
jupyter-vscode-proxy inside the workspace's jupyterhub-singleuser on the first request
to /vscode/.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .hub import DATA, Hub, wait_for
from .users_python import users_python

VSCODE_ENTRY = {
    "id": "vscode",
    "display_name": "VS Code",
    "description": "code-server behind the workspace's own server.",
    "image": "example.org/code-server:1",
    "kind": "vscode",
    # the server tells the hub its last activity every second (JupyterHub's default: 5 minutes)
    "kind_options": {"env": {"JUPYTERHUB_ACTIVITY_INTERVAL": "1"}},
    "local": {"python": "default"},
}


def with_vscode(catalog_file: Path) -> str:
    """Add :data:`VSCODE_ENTRY` to a catalog file; returns the text it had."""
    text = catalog_file.read_text()
    catalog = yaml.safe_load(text)
    catalog["images"].append(VSCODE_ENTRY)
    catalog_file.write_text(yaml.safe_dump(catalog))
    return text


def vscode_hub(root: Path, **kwargs: Any) -> Hub:
    """A hub (not started) whose catalog is the tests' with :data:`VSCODE_ENTRY` added."""
    (root / "vscode-catalog.yaml").write_text((DATA / "catalog.yaml").read_text())
    with_vscode(root / "vscode-catalog.yaml")
    return Hub(root, catalog=root / "vscode-catalog.yaml", **kwargs)


@contextlib.contextmanager
def vscode_workspace(hub: Hub, user: str, name: str) -> Iterator[None]:
    """``user``'s running VS Code workspace ``name`` on a running hub (the session's), code-server
    started by a first visit; the catalog edit is taken back and the workspace removed after."""
    before = with_vscode(hub.catalog_file)  # the hub reads its catalog again at the next start
    try:
        hub.start_workspace(user, name, {"image": "vscode"})
        r = hub.get(f"/user/{user}/{name}/vscode/", token=hub.user_token(user), allow_redirects=True)
        assert r.status_code == 200 and "code-server" in r.text.lower(), r.text[:500]
        wait_for_code_server(hub)
        yield
    finally:
        hub.api("DELETE", f"/users/{user}/servers/{name}", json={"remove": True})
        try:
            # gone, code-server with it, before the next module on this hub counts code-servers
            hub.wait_removed(user, name)
            wait_for(lambda: not code_server_pids(hub), 30, "code-server to stop")
        finally:
            hub.catalog_file.write_text(before)


def code_server_pids(hub: Hub) -> list[int]:
    """The code-server processes (node, its own and VS Code's) of this hub's workspaces."""
    pids = []
    for pid in hub.workspace_pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"/code-server/" in cmdline:
            pids.append(pid)
    return pids


def wait_for_code_server(hub: Hub) -> list[int]:
    return wait_for(lambda: code_server_pids(hub), 30, "code-server to run")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    except OSError:
        pass
    return inodes


def listening_endpoints(pids: list[int]) -> tuple[set[int], set[str]]:
    """The TCP ports and the Unix socket paths that ``pids`` listen on."""
    inodes = set().union(*(_socket_inodes(pid) for pid in pids))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    paths = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        # Flags 00010000: __SO_ACCEPTCON, a listening socket; a path, not an abstract name
        if len(fields) >= 8 and fields[6] in inodes and fields[3] == "00010000" and fields[7].startswith("/"):
            paths.add(fields[7])
    return ports, paths


# Run as another OS account: connect to the address and ask for code-server's page.
_PROBE = """
import socket, sys
kind, address = sys.argv[1], sys.argv[2]
try:
    if kind == "tcp":
        s = socket.create_connection(("127.0.0.1", int(address)), timeout=5)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(address)
    s.sendall(b"GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
    print(s.recv(200).decode(errors="replace").splitlines()[0])
except OSError as e:
    print(type(e).__name__)
"""


def reach_as(account: str, kind: str, address: str | int) -> str:
    """What ``account`` gets when it asks the address for a page: a status line, or the error."""
    out = subprocess.run(
        [users_python(), "-c", _PROBE, kind, str(address)], user=account, capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip() or out.stderr.strip()
