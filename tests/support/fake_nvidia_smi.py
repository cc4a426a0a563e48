"""A stand-in for nvidia-smi that answers the query the product makes."""

from pathlib import Path

SCRIPT = """#!/bin/sh
# fake nvidia-smi reporting {count} GPU(s)
case "$*" in
  *--query-gpu=index,uuid,name,memory.total*) ;;
  *) echo "fake nvidia-smi: unsupported arguments: $*" >&2; exit 2 ;;
esac
{lines}
"""


def write_fake_nvidia_smi(folder: Path, count: int) -> Path:
    lines = "\n".join(
        f"echo '{i}, GPU-0000000{i}-1111-2222-3333-44444444444{i}, NVIDIA H200, 143771'" for i in range(count)
    )
    path = folder / "nvidia-smi"
    path.write_text(SCRIPT.format(count=count, lines=lines or "true"))
    path.chmod(0o755)
    return path
