"""Local entries' own environments (spawner.local_envs): what an entry asks for, and how it is built.

The builds here are real (python -m venv, pip) but reach no network: a build without
requirements, and a failing one against an empty file:// index.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from spawner.local_envs import BUILDS, EnvBuildFailed, EnvRecipe, ensure_env, is_built, recipe_for
from workspaces.catalog import load_catalog, validate_images
from workspaces.config import load_config
from workspaces.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def default_entry(entry_id: str):
    return load_catalog(load_config(REPO / "config" / "workspaces.yaml")).image(entry_id)


def test_pytorch_gets_the_cpu_build_without_an_nvidia_gpu_and_pypis_cuda_build_with_one():
    torch = default_entry("jupyter-pytorch-cuda")
    without = recipe_for(torch, "/usr/bin/python3", nvidia_gpu=False)
    with_gpu = recipe_for(torch, "/usr/bin/python3", nvidia_gpu=True)
    assert without.pip_args() == ["--only-binary", ":all:", "--index-url", CPU_INDEX, "torch>=2.5,<3"]
    assert with_gpu.pip_args() == ["--only-binary", ":all:", "torch>=2.5,<3"]
    assert without.key() != with_gpu.key()  # two builds, never one reused for the other


def test_jupyter_scipy_holds_what_its_name_says_bounded_and_minimal_stays_on_the_hubs_python():
    scipy = recipe_for(default_entry("jupyter-scipy"), "/usr/bin/python3", nvidia_gpu=False)
    requirements = [Requirement(r) for r in scipy.requirements]
    assert [r.name for r in requirements] == ["numpy", "pandas", "scipy", "scikit-learn", "matplotlib"]
    assert all(len(r.specifier) == 2 for r in requirements)  # a floor and a ceiling each
    assert recipe_for(default_entry("jupyter-minimal"), "/usr/bin/python3", nvidia_gpu=False) is None


def test_an_environment_is_named_for_what_makes_it(tmp_path):
    base = EnvRecipe("lab", "Lab", sys.executable, ("inflection==0.5.1",))
    assert base.key() == EnvRecipe("lab", "Lab", sys.executable, ("inflection==0.5.1",)).key()
    assert base.key().startswith("lab-")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("inflection==0.5.1\n")
    from_file = EnvRecipe("lab", "Lab", sys.executable, (), str(requirements))
    before = from_file.key()
    requirements.write_text("inflection==0.5.0\n")
    changed = [
        EnvRecipe("lab", "Lab", sys.executable, ("inflection==0.5.0",)),
        EnvRecipe("lab", "Lab", "/usr/bin/python3", ("inflection==0.5.1",)),
        EnvRecipe("lab", "Lab", sys.executable, ("inflection==0.5.1",), index_url="https://example.org/simple"),
    ]
    assert base.key() not in {r.key() for r in changed}
    assert from_file.key() != before  # an edited file builds anew


@pytest.mark.parametrize(
    ("local", "message"),
    [
        ({"requirements": ["--index-url=https://x"]}, "'--index-url=https://x' is a pip option; requirements are package specifications"),
        ({"requirements": ["numpy>>2"]}, "'numpy>>2' is not a pip requirement such as 'numpy>=2,<3': Expected"),
        ({"requirements": ["evil @ https://example.org/evil-1.0.tar.gz"]}, "is a direct reference (evil @ URL), which pip would build from source"),
        ({"requirements": []}, "images[0].local.requirements: "),
        ({"requirements": ["a"], "environment": "/srv/requirements.txt"}, "set requirements or environment, not both"),
        ({"environment": "/srv/environment.yml"}, "only pip requirements files (requirements.txt) can be built; conda and pixi files are not supported"),
        ({"environment": "requirements.txt"}, "environment must be an absolute path, not 'requirements.txt'"),
        ({"requirements": ["a"], "python": "/usr/bin/python3"}, "requirements and environment build on the hub's Python (python: default)"),
        ({"requirements": ["a"], "command": ["jupyterhub-singleuser"]}, "a command or a Python of your own brings its own packages"),
        ({"python": "default", "cpu_index_url": CPU_INDEX}, "index_url and cpu_index_url go with requirements or environment"),
        ({"requirements": ["a"], "index_url": "pypi.org/simple"}, "images[0].local.index_url: must be an https://, http:// or file:// URL"),
    ],
)
def test_a_bad_local_environment_is_refused_in_one_line_saying_what_is_allowed(local, message):
    entry = {"id": "lab", "display_name": "Lab", "image": "lab:1", "local": local}
    with pytest.raises(ConfigError) as info:
        validate_images({"images": [entry]}, "catalog.yaml")
    [line] = info.value.lines()
    assert message in line and "\n" not in line


def test_a_requirements_file_that_is_missing_makes_the_entry_unavailable_locally_with_that_reason(tmp_path):
    entry = {"id": "lab", "display_name": "Lab", "image": "lab:1", "local": {"environment": str(tmp_path / "requirements.txt")}}
    [image] = validate_images({"images": [entry]}, "catalog.yaml")
    assert image.unavailable_reason("local") == f"its environment file {str(tmp_path / 'requirements.txt')!r} is not a file on this machine"
    assert image.unavailable_reason("kubernetes") is None


def test_a_build_is_published_whole_by_renaming_a_link_and_reused(tmp_path):
    recipe = EnvRecipe("lab", "Lab", sys.executable)
    env = tmp_path / "envs" / recipe.key()
    there: dict[str, bool] = {}
    built = asyncio.run(ensure_env(recipe, env, lambda message: there.setdefault(message, env.exists())))
    assert built and is_built(env)
    # nothing at env/ until it is whole
    assert there == {"Building the environment for Lab (first start only)": False,
                     "Building the environment for Lab (first start only): done": True}
    assert env.is_symlink() and env.resolve().parent == tmp_path / "envs" / BUILDS
    assert asyncio.run(ensure_env(recipe, env, print)) is False  # built: no second build


def test_concurrent_first_starts_share_one_build_and_a_failed_one_leaves_nothing(tmp_path):
    empty_index = tmp_path / "index"
    empty_index.mkdir()
    recipe = EnvRecipe("bad", "Bad Lab", sys.executable, ("no-such-package-anywhere==1",), index_url=empty_index.as_uri())
    env = tmp_path / "envs" / recipe.key()
    (tmp_path / "envs" / BUILDS).mkdir(parents=True)
    leftover = tmp_path / "envs" / BUILDS / f"{env.name}-from-a-hub-that-died"
    leftover.mkdir()
    first: list[str] = []
    second: list[str] = []

    async def two_starts() -> list[BaseException | bool]:
        return await asyncio.gather(ensure_env(recipe, env, first.append), ensure_env(recipe, env, second.append),
                                    return_exceptions=True)

    outcomes = asyncio.run(two_starts())
    assert [type(o) for o in outcomes] == [EnvBuildFailed, EnvBuildFailed]
    assert str(outcomes[0]) == str(outcomes[1]) == (
        "Building the environment for Bad Lab failed (python -m pip exited with status 1): "
        "ERROR: Could not find a version that satisfies the requirement no-such-package-anywhere==1 (from versions: none) "
        "ERROR: No matching distribution found for no-such-package-anywhere==1"
    )
    assert first == ["Building the environment for Bad Lab (first start only)"]
    assert second == ["Building the environment for Bad Lab (first start only): another start is building it", *first]
    assert not env.exists() and list((tmp_path / "envs" / BUILDS).iterdir()) == []
