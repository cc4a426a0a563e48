"""Memory and CPU limits of local workspaces: cgroup v2 where the machine hands it to the hub, RLIMIT otherwise.

**cgroup v2** applies when the hub's own cgroup (the ``0::`` line of
/proc/self/cgroup, under the cgroup2 mount) offers the memory and cpu
controllers and the hub may write to it: a systemd service with
``Delegate=yes``, or a container with a writable cgroup namespace of its own.
Each workspace then gets a child cgroup, ``workspace-<folder name>``, with
``memory.max`` (its profile's memory limit, and ``memory.swap.max`` 0 so that
swap does not stretch it) and ``cpu.max`` (its CPU limit). These hold for the
server and everything it starts, together; a workspace past its memory is
handled by the kernel's OOM killer inside that cgroup alone. cgroup v2 lets a
cgroup that holds processes give controllers to children only at the root, so
the hub first moves its own processes into a leaf beside them, ``hub``.

**RLIMIT** otherwise: ``RLIMIT_DATA`` at the memory limit on the server, which
every kernel and terminal inherits (a cap per process, not a total), and no
CPU limit. A process cannot raise its hard limit unless it is root, which is
why this holds only for workspaces that do not run as root.

:func:`decide` is the choice, from facts :func:`detect` reads, so it is tested
without a cgroup tree.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("memory", "cpu")
CPU_PERIOD = 100_000  # microseconds, the kernel's default cpu.max period
MIN_CPU_QUOTA = 1_000  # the smallest quota cpu.max accepts
HUB_LEAF = "hub"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LimitsPlan:
    """How workspace limits are held: under ``cgroup`` (the hub's cgroup), or by RLIMIT because of ``reason``."""

    cgroup: Path | None
    reason: str = ""

    def describe(self) -> str:
        if self.cgroup is not None:
            return f"cgroup v2 under {self.cgroup}: memory.max and cpu.max per workspace, for all its processes together"
        return f"RLIMIT_DATA on each workspace process, CPU not enforced ({self.reason})"


def cgroup2_mount(mountinfo: str) -> Path | None:
    """Where the cgroup v2 hierarchy is mounted, from /proc/self/mountinfo."""
    for line in mountinfo.splitlines():
        fields = line.split()
        # the filesystem type follows the " - " that ends the optional fields
        if "-" in fields and fields[fields.index("-") + 1 :][:1] == ["cgroup2"]:
            return Path(fields[4])
    return None


def unified_path(proc_cgroup: str) -> str | None:
    """The process's cgroup v2 path, from /proc/self/cgroup (its ``0::`` line)."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def decide(mount: Path | None, own: str | None, controllers: set[str], writable: bool) -> LimitsPlan:
    """cgroup v2 if the hub's cgroup ``own`` under ``mount`` offers ``CONTROLLERS`` and is ``writable``."""
    if mount is None:
        return LimitsPlan(None, "no cgroup v2 hierarchy is mounted")
    if own is None:
        return LimitsPlan(None, "the hub is in no cgroup v2 group")
    cgroup = mount / own.lstrip("/")
    missing = [c for c in CONTROLLERS if c not in controllers]
    if missing:
        return LimitsPlan(None, f"the hub's cgroup {cgroup} does not offer the {' and '.join(missing)} controller")
    if not writable:
        return LimitsPlan(None, f"the hub may not write to its cgroup {cgroup}; delegate it (systemd: Delegate=yes)")
    return LimitsPlan(cgroup)


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def detect() -> LimitsPlan:
    """The plan for this process, from /proc and its cgroup's files."""
    mount = cgroup2_mount(_read("/proc/self/mountinfo"))
    own = unified_path(_read("/proc/self/cgroup"))
    controllers: set[str] = set()
    writable = False
    if mount is not None and own is not None:
        cgroup = mount / own.lstrip("/")
        controllers = set(_read(cgroup / "cgroup.controllers").split())
        writable = all(os.access(p, os.W_OK) for p in (cgroup, cgroup / "cgroup.subtree_control", cgroup / "cgroup.procs"))
    return decide(mount, own, controllers, writable)


def cgroup_settings(memory: int | None, cpu: float | None) -> dict[str, str]:
    """The files a workspace's cgroup gets, and their contents; no limit is ``max``."""
    return {
        "memory.max": str(memory) if memory else "max",
        "memory.swap.max": "0" if memory else "max",
        "cpu.max": f"{max(MIN_CPU_QUOTA, round(cpu * CPU_PERIOD))} {CPU_PERIOD}" if cpu else f"max {CPU_PERIOD}",
    }


class WorkspaceCgroups:
    """The workspaces' cgroups, children of the hub's own cgroup ``parent``."""

    def __init__(self, parent: Path):
        self.parent = parent
        self._delegated = False

    def _delegate(self) -> None:
        """Give the memory and cpu controllers to the children (once per hub process)."""
        if self._delegated:
            return
        subtree = (self.parent / "cgroup.subtree_control").read_text().split()
        if not all(c in subtree for c in CONTROLLERS):
            leaf = self.parent / HUB_LEAF
            leaf.mkdir(exist_ok=True)
            for pid in (self.parent / "cgroup.procs").read_text().split():
                try:
                    (leaf / "cgroup.procs").write_text(pid)
                except ProcessLookupError:
                    pass  # exited meanwhile
            (self.parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in CONTROLLERS))
        self._delegated = True

    def path(self, name: str) -> Path:
        return self.parent / f"workspace-{name}"

    def create(self, name: str, memory: int | None, cpu: float | None) -> Path:
        """The cgroup of workspace folder ``name``, with these limits (made, or updated)."""
        self._delegate()
        cgroup = self.path(name)
        cgroup.mkdir(exist_ok=True)
        for key, value in cgroup_settings(memory, cpu).items():
            if (cgroup / key).exists():  # memory.swap.max: only where swap is accounted
                (cgroup / key).write_text(value)
        return cgroup

    def remove(self, name: str) -> None:
        """Remove the cgroup of a workspace that has stopped; one that still holds processes stays."""
        try:
            self.path(name).rmdir()
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("Cannot remove cgroup %s: %s", self.path(name), e.strerror)
