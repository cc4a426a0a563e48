"""A pod's container run as a local process on a loopback address of its own.

No container runtime exists where the tests run, so the simulated kubelet
(``tests/support/kubelet.py``, process mode) runs a pod's first container as
a plain process. What it needs for that lives here:

- a loopback address per pod, 127.0.0.N (N >= 2, unique among the live pods
  of this test process, skipping one where the container port is taken by
  another test run), which becomes ``status.podIP``: ``lease_address`` and
  ``release_address``;
- the command: ``command`` + ``args``, where nothing may listen beyond the
  pod's address, so every ``--ip=``/``--X.ip=`` argument becomes the pod IP,
  and ``--allow-root`` is added to jupyter commands when the tests run as
  root (as they do in containers): ``process_command``;
- a minimal environment (PATH with the running Python's bin first, so
  ``jupyterhub-singleuser`` resolves; HOME, the working directory; HOSTNAME)
  under the pod's env, with the host of ``JUPYTERHUB_SERVICE_URL`` made the
  pod IP: ``process_env``;
- the process itself, signalled as a container runtime does: SIGTERM to its
  process group, SIGKILL also to every descendant, since a kernel may have
  left the group: ``PodProcess``;
- file names made of pod and namespace names: ``safe_name``.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

JUPYTER_COMMANDS = {"jupyterhub-singleuser", "jupyter", "jupyter-lab", "jupyter-server", "jupyter-notebook"}
DEFAULT_GRACE = 5.0  # seconds from SIGTERM to SIGKILL when the deletion names none

# module-wide, so that two kubelets of one test process never hand out the same address
_leased: set[str] = set()
_lock = threading.Lock()


def lease_address(port: int) -> str:
    """The lowest free 127.0.0.N, N >= 2; one where ``port`` is taken (another test run) is skipped."""
    with _lock:
        free = [f"127.0.0.{n}" for n in range(2, 255) if f"127.0.0.{n}" not in _leased]
        if not free:
            raise RuntimeError("no loopback address left for a pod")
        chosen = free[0]
        for ip in free:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
                try:
                    probe.bind((ip, port))
                except OSError:
                    continue
            chosen = ip
            break
        _leased.add(chosen)
        return chosen


def release_address(ip: str) -> None:
    with _lock:
        _leased.discard(ip)


def process_command(container: dict, ip: str, as_root: bool | None = None) -> list[str]:
    """argv for a container: every --ip / --X.ip bound to ``ip``, --allow-root for jupyter as root."""
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    out: list[str] = []
    rewrite_next = False
    for arg in argv:
        if rewrite_next:
            out.append(ip)
            rewrite_next = False
        elif re.fullmatch(r"--(?:[\w-]+\.)?ip=.*", arg):
            out.append(arg.split("=", 1)[0] + "=" + ip)
        else:
            rewrite_next = bool(re.fullmatch(r"--(?:[\w-]+\.)?ip", arg))
            out.append(arg)
    if as_root is None:
        as_root = os.geteuid() == 0
    if out and os.path.basename(out[0]) in JUPYTER_COMMANDS and as_root and "--allow-root" not in out:
        out.append("--allow-root")
    return out


def process_env(container: dict, ip: str, home: str, hostname: str = "") -> dict[str, str]:
    """A minimal environment (PATH with this Python's bin, HOME, HOSTNAME) under the container's env.

    Entries with ``valueFrom`` are left out: the caller resolves them into values first.
    """
    bin_dir = os.path.dirname(sys.executable)
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOSTNAME": hostname}
    for item in container.get("env") or []:
        if "name" in item and "valueFrom" not in item:
            env[item["name"]] = str(item.get("value") or "")
    if bin_dir not in env["PATH"].split(":"):
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["HOME"] = home  # the container's HOME does not exist here
    if url := env.get("JUPYTERHUB_SERVICE_URL"):
        parts = urlsplit(url)
        netloc = f"{ip}:{parts.port}" if parts.port else ip
        env["JUPYTERHUB_SERVICE_URL"] = urlunsplit(parts._replace(netloc=netloc))
    return env


def safe_name(name: str) -> str:
    """``name`` fit for a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), so a kill reaches what left the group too."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class PodProcess:
    """The process of one pod."""

    namespace: str
    name: str
    uid: str
    ip: str
    port: int
    workdir: Path
    log: Path
    proc: asyncio.subprocess.Process | None = None
    starting: bool = True  # until the launch has been tried
    deleted: bool = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def send(self, sig: int, tree: bool = False) -> None:
        """``sig`` to the process group; with ``tree`` (for SIGKILL) also to every descendant."""
        if self.proc is None:
            return
        others = descendants(self.proc.pid) if tree else []
        for send, target in [(os.killpg, self.proc.pid)] + [(os.kill, p) for p in others]:
            try:
                send(target, sig)
            except (ProcessLookupError, PermissionError):
                pass
