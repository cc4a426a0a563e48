"""GPUs of this machine: detection with nvidia-smi, and exclusive hand-out by index.

The local backend gives each workspace whole GPUs, named to the server through
``CUDA_VISIBLE_DEVICES``. A GPU belongs to one running workspace at a time; it
is free again when that workspace's process is gone (stopped, crashed, or found
dead after a hub restart).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("workspaces.gpus")

QUERY = ["--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"]


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    name: str
    memory_mib: int


def detect_gpus(nvidia_smi: str = "nvidia-smi", timeout: float = 15) -> list[Gpu]:
    """The GPUs nvidia-smi reports; none when it is missing or fails."""
    executable = shutil.which(nvidia_smi)
    if executable is None:
        log.info("No GPUs: %s not found", nvidia_smi)
        return []
    try:
        result = subprocess.run(
            [executable, *QUERY], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("No GPUs: %s failed: %s", executable, e)
        return []
    if result.returncode != 0:
        # e.g. "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"
        log.warning("No GPUs: %s exited %d: %s", executable, result.returncode, result.stderr.strip()[:300])
        return []
    gpus = []
    for line in result.stdout.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 4:
            continue
        try:
            gpus.append(Gpu(int(fields[0]), fields[1], fields[2], int(float(fields[3]))))
        except ValueError:
            log.warning("Ignoring unparsable nvidia-smi line: %r", line)
    log.info("Detected %d GPU(s): %s", len(gpus), ", ".join(f"{g.index}:{g.name}" for g in gpus) or "none")
    return gpus


class GpuUnavailable(Exception):
    """More GPUs were asked for than are free (or than exist)."""

    def __init__(self, requested: int, free: int, total: int):
        self.requested, self.free, self.total = requested, free, total
        if total < requested:
            msg = f"{requested} GPU(s) requested but this machine has {total}"
        else:
            msg = f"{requested} GPU(s) requested but only {free} of {total} are free; stop a GPU workspace or pick a smaller profile"
        super().__init__(msg)

    @property
    def never_possible(self) -> bool:
        return self.total < self.requested


def write_leases(path: Path, leases: dict[str, list[int]], gpus: list[int] | None = None) -> None:
    """``{"leases": {owner: [index, ...]}, "gpus": [index, ...]}``, replaced whole so a reader never sees half a file.

    ``gpus``, the machine's, lets the API service say how many are free (workspaces.capacity).
    """
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps({"leases": leases, "gpus": gpus or []}, sort_keys=True))
    os.replace(partial, path)


class GpuAllocator:
    """Exclusive GPU leases, keyed by an owner string (one per workspace).

    With a ``lease_file``, every change is written there: the culler, which
    must not share the hub's memory, learns from it which GPUs each running
    workspace holds (for the GPU-idle signal).
    """

    def __init__(self, indices: list[int], lease_file: Path | None = None):
        self.indices = sorted(indices)
        self._owner_of: dict[int, str] = {}
        self._lock = threading.Lock()
        self.lease_file = lease_file
        self._save()  # a new hub process starts with no lease; load_state claims them again

    def leases(self) -> dict[str, list[int]]:
        by_owner: dict[str, list[int]] = {}
        for index, owner in sorted(self._owner_of.items()):
            by_owner.setdefault(owner, []).append(index)
        return by_owner

    def _save(self) -> None:
        if self.lease_file is None:
            return
        try:
            write_leases(self.lease_file, self.leases(), self.indices)
        except OSError as e:
            # the leases themselves hold; only the GPU-idle signal goes blind
            log.warning("Could not write the GPU leases to %s: %s", self.lease_file, e)

    @property
    def total(self) -> int:
        return len(self.indices)

    def free(self) -> list[int]:
        return [i for i in self.indices if i not in self._owner_of]

    def held_by(self, owner: str) -> list[int]:
        return sorted(i for i, o in self._owner_of.items() if o == owner)

    def allocate(self, owner: str, count: int) -> list[int]:
        """Lease ``count`` free GPUs to ``owner`` (lowest indices first)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            self._release(owner)
            free = self.free()
            if count > len(free):
                raise GpuUnavailable(count, len(free), self.total)
            chosen = free[:count]
            for i in chosen:
                self._owner_of[i] = owner
            self._save()
            return chosen

    def claim(self, owner: str, indices: list[int]) -> list[int]:
        """Re-register a lease after a hub restart; returns what could not be claimed."""
        conflicts = []
        with self._lock:
            for i in indices:
                holder = self._owner_of.get(i)
                if i not in self.indices or (holder is not None and holder != owner):
                    conflicts.append(i)
                else:
                    self._owner_of[i] = owner
            self._save()
        return conflicts

    def release(self, owner: str) -> list[int]:
        with self._lock:
            released = self._release(owner)
            self._save()
            return released

    def _release(self, owner: str) -> list[int]:
        mine = [i for i, o in self._owner_of.items() if o == owner]
        for i in mine:
            del self._owner_of[i]
        return sorted(mine)
