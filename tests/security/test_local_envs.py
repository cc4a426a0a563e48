"""A workspace account attacks the environment an entry's workspaces share (spawner.local_envs).

Every workspace of an entry with local.requirements imports from one environment: code
one account planted there would run in every other user's kernels. The environment is
built under the most permissive umask (0), so its modes come from the build, never from
whoever started the hub; the attacker is a real OS account, as a workspace's code runs
with isolation: users, running the environment's own Python.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spawner.accounts import Account, ensure_account
from spawner.local_envs import EnvRecipe, ensure_env, python_of

from ..support.users_python import users_python

ATTACK = """
import pathlib, site, sys
site_packages = pathlib.Path(site.getsitepackages()[0])
print(sys.prefix)
for path, text in [(site_packages / "planted.pth", "import os\\n"), (site_packages / "workspaces-hub.pth", ""),
                   (pathlib.Path(sys.prefix) / "pyvenv.cfg", "")]:
    try:
        path.open("a").write(text)
        print("wrote", path.name)
    except OSError as e:
        print(type(e).__name__, path.name)
"""


@pytest.fixture(scope="module")
def attacker() -> Account:
    return asyncio.run(ensure_account("env-attacker"))


@pytest.fixture(scope="module")
def shared_env() -> Iterator[Path]:
    """An entry's environment, built as the hub builds it but under umask 0."""
    data = Path(tempfile.mkdtemp(prefix="workspaces-envs-"))
    data.chmod(0o711)  # as the hub's data dir
    recipe = EnvRecipe("lab", "Lab", users_python())
    env = data / "envs" / recipe.key()
    old = os.umask(0)
    try:
        asyncio.run(ensure_env(recipe, env, lambda _: None))
    finally:
        os.umask(old)
    yield env
    shutil.rmtree(data)


def as_account(account: Account, argv: list[str]) -> str:
    result = subprocess.run(argv, user=account.uid, group=account.gid, extra_groups=[], capture_output=True,
                            text=True, cwd="/", env={"PATH": "/usr/bin:/bin"}, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_workspace_account_runs_the_shared_environment_but_cannot_write_into_it(attacker, shared_env):
    lines = as_account(attacker, [str(python_of(shared_env)), "-c", ATTACK]).splitlines()
    assert lines == [str(shared_env), "PermissionError planted.pth", "PermissionError workspaces-hub.pth",
                     "PermissionError pyvenv.cfg"]


def test_a_workspace_account_cannot_swap_the_shared_environment_for_its_own(attacker, shared_env):
    """envs/<key> is a link the hub renames into place: whoever could rename it would choose what every
    workspace of the entry runs."""
    code = (f"import os\nfor step in (lambda: os.rename({str(shared_env)!r}, {str(shared_env) + '.old'!r}),"
            f" lambda: os.symlink('/tmp', {str(shared_env.parent / 'planted')!r})):\n"
            "    try:\n        step()\n        print('done')\n    except OSError as e:\n        print(type(e).__name__)\n")
    assert as_account(attacker, [str(python_of(shared_env)), "-c", code]) == "PermissionError\nPermissionError\n"
