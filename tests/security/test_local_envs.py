"""Attacks on the environments of local entries (spawner.local_envs).

A workspace account attacks the environment an entry's workspaces share: code one account
planted there would run in every other user's kernels. The environment is built under the
most permissive umask (0), so its modes come from the build, never from whoever started the
hub; the attacker is a real OS account, as a workspace's code runs with isolation: users,
running the environment's own Python.

A catalog entry (an admin's, through the catalog API) attacks the hub: the build runs pip
as the hub's account, and a source package runs its own build code, which would then act as
the hub (root, with its database and secrets).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spawner.accounts import Account, ensure_account
from spawner.local_envs import EnvBuildFailed, EnvRecipe, ensure_env, python_of, recipe_for
from workspaces.catalog import validate_images
from workspaces.errors import ConfigError

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


@pytest.fixture
def source_package(tmp_path: Path) -> tuple[Path, Path]:
    """(index, sdist): a source package 'evil' 1.0 on a file:// index; building it (pip runs its build
    backend for that) writes tmp_path/ran."""
    src = tmp_path / "evil-1.0"
    src.mkdir()
    (src / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    (src / "backend.py").write_text(f"import pathlib\npathlib.Path({str(tmp_path / 'ran')!r}).write_text('ran')\n")
    (src / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    sdist = tmp_path / "index" / "evil" / "evil-1.0.tar.gz"
    sdist.parent.mkdir(parents=True)
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(src, arcname="evil-1.0")
    # a simple index (PEP 503) as pip reads one from files: a page per project
    (sdist.parent / "index.html").write_text('<a href="evil-1.0.tar.gz">evil-1.0.tar.gz</a>\n')
    return tmp_path / "index", sdist


def build_entry(local: dict, data: Path) -> None:
    """Validate ``local`` as a catalog entry's (the catalog API does the same), then build its environment."""
    [image] = validate_images({"images": [{"id": "evil", "display_name": "Evil", "image": "evil:1", "local": local}]},
                              "the catalog")
    recipe = recipe_for(image, sys.executable, nvidia_gpu=False)
    asyncio.run(ensure_env(recipe, data / "envs" / recipe.key(), lambda _: None))


def test_an_entry_cannot_make_the_hub_run_a_source_packages_build_code(tmp_path, source_package):
    index, _ = source_package
    with pytest.raises(EnvBuildFailed, match="No matching distribution found for evil==1.0"):
        build_entry({"requirements": ["evil==1.0"], "index_url": index.as_uri()}, tmp_path)
    assert not (tmp_path / "ran").exists()


def test_an_entry_cannot_name_a_source_package_by_its_url(tmp_path, source_package):
    """pip builds a direct reference from source even with --only-binary :all:."""
    _, sdist = source_package
    with pytest.raises(ConfigError, match="is a direct reference"):
        build_entry({"requirements": [f"evil @ {sdist.as_uri()}"]}, tmp_path)
    assert not (tmp_path / "ran").exists()


def test_a_requirements_file_a_workspace_account_could_write_is_not_installed(tmp_path, source_package, attacker):
    _, sdist = source_package
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"evil @ {sdist.as_uri()}\n")
    os.chown(requirements, attacker.uid, attacker.gid)  # as if the account had written it (its workspace folder)
    with pytest.raises(EnvBuildFailed, match="must be the hub's own"):
        build_entry({"environment": str(requirements)}, tmp_path)
    assert not (tmp_path / "ran").exists()


def test_a_requirements_file_in_a_folder_a_workspace_account_owns_is_not_installed(tmp_path, source_package, attacker):
    """The hub's own file, but the account could swap it between the check and pip's read."""
    _, sdist = source_package
    folder = tmp_path / "team"
    folder.mkdir()
    os.chown(folder, attacker.uid, attacker.gid)
    requirements = folder / "requirements.txt"
    requirements.write_text(f"evil @ {sdist.as_uri()}\n")
    with pytest.raises(EnvBuildFailed, match="requirements file's folder .* must be the hub's own"):
        build_entry({"environment": str(requirements)}, tmp_path)
    assert not (tmp_path / "ran").exists()
