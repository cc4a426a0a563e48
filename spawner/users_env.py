"""The users' Python: what workspaces run when the hub's own interpreter is out of their reach.

With ``local.isolation`` users, each workspace runs as its user's own OS account,
which must be able to run the workspaces' Python. A hub installed in a virtual
environment of a Python that other accounts cannot run (pyenv's under ``/root``,
mode 0700, say) cannot lend its interpreter. As The Littlest JupyterHub keeps a
users' environment in ``/opt/tljh/user``, the hub then makes one beside its own,
``<hub prefix>/users``: a virtual environment of the system's Python of the same
version that sees the hub's packages and Jupyter's files.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .accounts import blocked_for_others

FOLDER = "users"

# Jupyter finds JupyterLab's assets, extensions, kernels and server config under sys.prefix.
JUPYTER_FILES = ("share/jupyter", "etc/jupyter")


class UsersEnvError(Exception):
    """No users' environment can be made here; the message says what is missing."""


def _system_python() -> str:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [f"{folder}/{version}" for folder in ("/usr/bin", "/usr/local/bin")]
    for candidate in candidates:
        if os.path.exists(candidate) and blocked_for_others(candidate) is None:
            return candidate
    raise UsersEnvError(
        f"the hub's Python, {sys.executable}, cannot be run by other OS accounts, and there is no {version} "
        f"they can run ({', '.join(candidates)}): install one (Debian: apt-get install {version}), or set local.python"
    )


def lend_hub_packages(venv: Path) -> None:
    """Let the virtual environment ``venv`` (of the hub's Python version) see the hub's packages,
    behind its own, and Jupyter's files (JupyterLab's assets, extensions, kernels) under its prefix."""
    lend_packages(venv, LenderPython.this())


@dataclass(frozen=True)
class LenderPython:
    """A Python environment whose packages and Jupyter files a virtual environment borrows."""

    purelib: str  # its site-packages
    prefix: str  # its sys.prefix, where Jupyter's files are
    version: str  # "python3.11": the folder under lib/ of a virtual environment made from it

    # what a Python prints of itself, for from_output()
    QUERY = "import json, sys, sysconfig; print(json.dumps([sysconfig.get_paths()['purelib'], sys.prefix, " \
            "f'python{sys.version_info[0]}.{sys.version_info[1]}']))"

    @classmethod
    def this(cls) -> LenderPython:
        return cls(sysconfig.get_paths()["purelib"], sys.prefix, f"python{sys.version_info.major}.{sys.version_info.minor}")

    @classmethod
    def from_output(cls, output: str) -> LenderPython:
        # the last line: a warning on stderr (PYTHONWARNINGS, a sitecustomize) may come first
        return cls(*json.loads(output.strip().splitlines()[-1] if output.strip() else output))


def lend_packages(venv: Path, lender: LenderPython) -> None:
    """Let ``venv``, made from ``lender``'s interpreter, see its packages behind its own, and its Jupyter files."""
    site = venv / "lib" / lender.version / "site-packages"
    # addsitedir, not a bare path: the lender's own .pth files (an editable install) must run too
    (site / "workspaces-hub.pth").write_text(f"import site; site.addsitedir({lender.purelib!r})\n")
    for shared in JUPYTER_FILES:
        if (Path(lender.prefix) / shared).exists():
            (venv / shared).parent.mkdir(parents=True, exist_ok=True)
            (venv / shared).symlink_to(Path(lender.prefix) / shared)


def _build(target: Path) -> None:
    base = _system_python()
    building = Path(tempfile.mkdtemp(prefix=f".{FOLDER}-", dir=target.parent))
    try:
        building.chmod(0o755)
        subprocess.run([base, "-m", "venv", "--without-pip", str(building)], check=True, capture_output=True)
        lend_hub_packages(building)
        try:
            building.rename(target)
        except OSError:
            if not (target / "bin" / "python").exists():
                raise  # not another process's finished environment: a real failure
    finally:
        shutil.rmtree(building, ignore_errors=True)


@functools.cache
def users_python() -> str | None:
    """The interpreter workspaces' accounts run; None when the hub's own serves (others may run it).

    Made once, at ``<hub prefix>/users``, and reused. Raises :class:`UsersEnvError`.
    """
    if blocked_for_others(sys.executable) is None:
        return None
    target = Path(sys.prefix) / FOLDER
    if not (target / "bin" / "python").exists():
        try:
            _build(target)
        except (OSError, subprocess.CalledProcessError) as e:
            raise UsersEnvError(f"could not make the users' Python in {target}: {e}") from None
    return str(target / "bin" / "python")
