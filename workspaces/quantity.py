"""Kubernetes-style resource quantities: memory sizes and CPU amounts.

The same strings an admin writes for the Kubernetes backend (``2Gi``, ``500m``)
are accepted by the local backend, so one catalog serves both.
"""

from __future__ import annotations

import re

_MEMORY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$")
_UNITS = {
    None: 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
}
_CPU = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<milli>m)?$")

MEMORY_HELP = "a memory size such as 512Mi, 2Gi, 2G or a number of bytes"
CPU_HELP = "a CPU amount such as 0.5, 2 or 500m"


def memory_bytes(value: str | int) -> int:
    """Bytes in a memory quantity; raises ValueError naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"must be {MEMORY_HELP}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must be {MEMORY_HELP}")
        return value
    match = _MEMORY.match(str(value).strip())
    if not match:
        raise ValueError(f"must be {MEMORY_HELP}, not {value!r}")
    return int(float(match["number"]) * _UNITS[match["unit"]])


def cpu_cores(value: str | int | float) -> float:
    """Cores in a CPU quantity; raises ValueError naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"must be {CPU_HELP}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"must be {CPU_HELP}")
        return float(value)
    match = _CPU.match(str(value).strip())
    if not match:
        raise ValueError(f"must be {CPU_HELP}, not {value!r}")
    number = float(match["number"])
    return number / 1000 if match["milli"] else number


def format_bytes(n: int) -> str:
    """Human-readable binary size, as shown in the spawn form."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"
