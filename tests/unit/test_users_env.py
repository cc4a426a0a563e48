"""The users' environment: a Python that workspaces' OS accounts can run, with the hub's packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from spawner.accounts import blocked_for_others
from spawner.users_env import LenderPython, users_python


def test_another_account_runs_the_users_python_with_the_hubs_packages_and_jupyters_files():
    python = users_python() or sys.executable
    assert blocked_for_others(python) is None
    out = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", python, "-c",
         "import json, jupyterlab, workspaces, jupyter_core.paths as p; print(json.dumps(p.jupyter_config_path()))"],
        capture_output=True, text=True, timeout=60, cwd="/",
    )
    assert out.returncode == 0, out.stderr
    # JupyterLab's server extension is enabled by a file under the prefix's etc/jupyter
    assert any((Path(d) / "jupyter_server_config.d").is_dir() for d in json.loads(out.stdout)), out.stdout


def test_a_python_that_warns_before_it_describes_itself_is_still_understood():
    """A warning (PYTHONWARNINGS, a sitecustomize) on stderr comes before the description."""
    output = "sitecustomize.py:3: DeprecationWarning: old\n  import imp\n" + json.dumps(["/p/site", "/p", "python3.11"]) + "\n"
    assert LenderPython.from_output(output) == LenderPython("/p/site", "/p", "python3.11")
