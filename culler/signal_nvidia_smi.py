"""The local GPU-idle signal: nvidia-smi's utilisation of the GPUs the hub leased to each workspace.

The hub (the local spawner) writes its leases to ``gpu-leases.json`` in its data
dir, ``{"leases": {"user/server": [0, 1]}}``; the culler reads that file and
never the spawner's memory. One nvidia-smi call per pass, none when nothing
holds a GPU.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from .signals import Readings, Signal

QUERY = ["--query-gpu=index,utilization.gpu", "--format=csv,noheader,nounits"]


def parse_utilization(text: str) -> dict[int, float]:
    """``0, 37`` per line: utilisation by GPU index. A GPU that reports none ("[N/A]") is left out."""
    found: dict[int, float] = {}
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2:
            continue
        try:
            found[int(fields[0])] = float(fields[1])
        except ValueError:
            continue
    return found


def read_leases(path: Path) -> dict[str, list[int]]:
    """Which GPUs each workspace holds; none when the hub has written no lease yet."""
    try:
        leases = json.loads(path.read_text()).get("leases") or {}
    except FileNotFoundError:
        return {}
    return {owner: [int(i) for i in indices] for owner, indices in leases.items()}


class NvidiaSmiSignal(Signal):
    name = "nvidia-smi"

    def __init__(self, nvidia_smi: str, leases: Path, timeout: float = 15):
        self.nvidia_smi = nvidia_smi
        self.leases = leases
        self.timeout = timeout

    async def query(self) -> dict[int, float]:
        executable = shutil.which(self.nvidia_smi)
        if executable is None:
            raise RuntimeError(f"{self.nvidia_smi} not found")
        process = await asyncio.create_subprocess_exec(
            executable, *QUERY, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), self.timeout)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(f"{executable} did not answer in {self.timeout:g}s") from None
        if process.returncode != 0:
            raise RuntimeError(f"{executable} exited {process.returncode}: {err.decode(errors='replace').strip()[:300]}")
        return parse_utilization(out.decode(errors="replace"))

    async def sample(self) -> Readings:
        leases = read_leases(self.leases)
        if not leases:
            return Readings()
        utilization = await self.query()
        return Readings(
            {
                owner: [utilization[i] for i in indices]
                for owner, indices in leases.items()
                # a leased GPU without a reading leaves the workspace without one
                if indices and all(i in utilization for i in indices)
            }
        )
