"""A stand-in for nvidia-smi that answers the queries the product makes.

Detection (``--query-gpu=index,uuid,name,memory.total``) lists ``count`` GPUs;
utilisation (``--query-gpu=index,utilization.gpu``) is what a test last wrote
with :func:`set_utilization`, 0% for every GPU until then. Both in nvidia-smi's
``--format=csv,noheader,nounits`` form.
"""

from pathlib import Path

SCRIPT = """#!/bin/sh
# fake nvidia-smi reporting {count} GPU(s)
case "$*" in
  *--query-gpu=index,uuid,name,memory.total*)
{lines}
    ;;
  *--query-gpu=index,utilization.gpu*)
    if [ -f '{utilization}' ]; then cat '{utilization}'; else
{idle}
    fi ;;
  *) echo "fake nvidia-smi: unsupported arguments: $*" >&2; exit 2 ;;
esac
"""


def write_fake_nvidia_smi(folder: Path, count: int) -> Path:
    lines = "\n".join(
        f"    echo '{i}, GPU-0000000{i}-1111-2222-3333-44444444444{i}, NVIDIA H200, 143771'" for i in range(count)
    )
    idle = "\n".join(f"    echo '{i}, 0'" for i in range(count))
    path = folder / "nvidia-smi"
    path.write_text(
        SCRIPT.format(count=count, lines=lines or "    true", idle=idle or "    true", utilization=utilization_file(path))
    )
    path.chmod(0o755)
    return path


def utilization_file(fake: Path) -> Path:
    return fake.with_name(fake.name + "-utilization.csv")


def set_utilization(fake: Path, percent: dict[int, float | str]) -> None:
    """What the fake reports from now on: utilisation by GPU index ("[N/A]" as nvidia-smi writes it)."""
    target = utilization_file(fake)
    partial = target.with_name(target.name + ".tmp")
    partial.write_text("".join(f"{index}, {value}\n" for index, value in sorted(percent.items())))
    partial.replace(target)
