"""A Python that every OS account can run, with the tests' packages: the users' environment.

With local.isolation users (a hub run as root, as the tests' hubs are), each
workspace runs as its user's own account, which must be able to run the
workspaces' Python. The tests' interpreter may live where other accounts cannot
pass (here pyenv's, under /root, mode 0700). Then this makes what an admin
would install for their users (as The Littlest JupyterHub's /opt/tljh/user): a
venv of the system's Python of the same version, in a folder anyone may read,
that sees the tests' venv's packages. The tests' hubs name it in local.python.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from spawner.accounts import blocked_for_others


@functools.cache
def users_python() -> str:
    if blocked_for_others(sys.executable) is None:
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    bases = [f"{d}/{version}" for d in ("/usr/bin", "/usr/local/bin")]
    base = next((b for b in bases if os.path.exists(b) and blocked_for_others(b) is None), None)
    if base is None:
        raise RuntimeError(
            f"{sys.executable} cannot be run by other OS accounts and there is no {version} they can run "
            f"({', '.join(bases)}): install one (Debian: apt-get install {version})"
        )
    env = Path(tempfile.mkdtemp(prefix="workspaces-users-python-"))
    atexit.register(shutil.rmtree, env, ignore_errors=True)
    env.chmod(0o755)
    subprocess.run([base, "-m", "venv", "--without-pip", str(env)], check=True)
    # addsitedir, not a bare path: the venv's own .pth files (the editable install) must run too
    packages = sysconfig.get_paths()["purelib"]
    (env / "lib" / version / "site-packages" / "tests-venv.pth").write_text(
        f"import site; site.addsitedir({packages!r})\n"
    )
    # Jupyter looks for JupyterLab's assets, extensions, kernels and config under sys.prefix
    for shared in ("share/jupyter", "etc/jupyter"):
        if (Path(sys.prefix) / shared).exists():
            (env / shared).parent.mkdir(parents=True, exist_ok=True)
            (env / shared).symlink_to(Path(sys.prefix) / shared)
    return str(env / "bin" / "python")
