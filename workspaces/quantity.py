"""Kubernetes-style resource quantities: memory sizes and CPU amounts.

The same strings an admin writes for the Kubernetes backend (``2Gi``, ``500m``)
are accepted by the local backend, so one catalog serves both.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

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


# A Kubernetes quantity (apimachinery's resource.Quantity): a number, then a binary or decimal
# suffix or a decimal exponent. The API server keeps the form it was written in, so a pod's
# "1e9" stays "1e9"; every form must be read, as any pod of the cluster is counted.
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$")
_SUFFIX = {
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50),
    "Ei": Decimal(2**60), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def amount(quantity: Any) -> float:
    """A Kubernetes quantity as a number: '500m' -> 0.5, '2Gi' -> 2147483648, '1e9' -> 1e9, '4' -> 4."""
    match = _QUANTITY.match(str(quantity).strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    number, exponent, suffix = match.groups()
    return float(Decimal(number + (exponent or "")) * _SUFFIX[suffix or ""])
