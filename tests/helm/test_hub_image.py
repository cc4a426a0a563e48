"""images/hub/Dockerfile, checked without a Docker engine: Docker's own parser reads it."""

from __future__ import annotations

import posixpath
import shlex
import tomllib

import dockerfile
import pytest

from workspaces.config import REPO_ROOT, WorkspacesConfig

from .chart import render

DOCKERFILE = REPO_ROOT / "images" / "hub" / "Dockerfile"


@pytest.fixture(scope="module")
def commands() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def of(commands, cmd: str) -> list[dockerfile.Command]:
    return [c for c in commands if c.cmd == cmd.upper()]


def image_paths(commands) -> set[str]:
    """Paths in the image that COPY fills, file by file (sources relative to the repository root)."""
    workdir, paths = "/", set()
    for c in commands:
        if c.cmd == "WORKDIR":
            workdir = posixpath.join(workdir, c.value[0])
        elif c.cmd == "COPY":
            *sources, dest = c.value
            dest = posixpath.join(workdir, dest)
            for source in sources:
                name = posixpath.basename(source.rstrip("/"))
                paths.add(posixpath.normpath(posixpath.join(dest, name) if dest.endswith("/") or len(sources) > 1 else dest))
    return paths


def test_it_parses_and_builds_on_a_slim_python(commands):
    [base] = of(commands, "FROM")
    assert base.value[0].startswith("python:3.12-slim")


def test_every_path_it_copies_exists(commands):
    for c in of(commands, "COPY"):
        for source in c.value[:-1]:
            assert (REPO_ROOT / source).exists(), f"line {c.start_line}: {source} is not in the repository"


def test_the_package_it_installs_is_this_one(commands):
    assert tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["name"] == "workspaces"
    assert "/opt/workspaces/pyproject.toml" in image_paths(commands)
    [workdir] = of(commands, "WORKDIR")
    [install] = [c for c in of(commands, "RUN") if "pip install" in c.value[0]]
    words = shlex.split(install.value[0])
    assert workdir.value[0] == "/opt/workspaces"
    assert words[words.index("--editable") + 1] == ".[kubernetes]"


def test_the_files_the_package_reads_at_run_time_are_in_the_image(commands):
    defaults = WorkspacesConfig()
    needed = [defaults.catalog, defaults.profiles, str(REPO_ROOT / "config" / "jupyterhub_config.py")]
    for path in needed:
        in_image = "/opt/workspaces/" + str(REPO_ROOT.joinpath(path).relative_to(REPO_ROOT))
        assert in_image in image_paths(commands), path


def test_it_runs_as_the_non_root_user_the_chart_expects(commands):
    user = of(commands, "USER")[-1].value[0].split(":")[0]
    assert user not in {"0", "root"}
    [hub] = [d for d in render() if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-hub")]
    assert str(hub["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == user


def test_the_chart_starts_the_hub_with_the_config_file_in_the_image(commands):
    [hub] = [d for d in render() if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-hub")]
    command = hub["spec"]["template"]["spec"]["containers"][0]["command"]
    [entrypoint] = of(commands, "ENTRYPOINT")
    assert list(entrypoint.value) == command
    assert command[-1] in image_paths(commands)
