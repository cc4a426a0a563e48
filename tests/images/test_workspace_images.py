"""The workspace images (images/<name>/Dockerfile), checked without an engine.

Docker's own (BuildKit's) parser reads each Dockerfile, hadolint lints it, and pip resolves each
image's requirements for the image's Python and platform, so a pin that cannot install fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import dockerfile
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from spawner import pod_security
from workspaces.config import REPO_ROOT

# The build context of every workspace image (images/README.md): it holds the shared lab config.
CONTEXT = REPO_ROOT / "images"
NAMES = sorted(d.name for d in CONTEXT.iterdir() if (d / "Dockerfile").is_file() and d.name != "hub")
HADOLINT = Path(sys.executable).with_name("hadolint")
# The Docker Stacks bases' Python since their 2025-08-15 build (their CHANGELOG), and their
# Ubuntu 24.04's glibc is newer than manylinux2014's, so every manylinux2014 wheel fits.
PYTHON, PLATFORM = "3.13", "manylinux2014_x86_64"
# a date tag, optionally behind a variant (pytorch-notebook's cuda12-): never a moving tag
BASE = re.compile(r"^quay\.io/jupyter/[a-z-]+:(?:cuda\d+-)?\d{4}-\d{2}-\d{2}$")
# where the catalog says a registry would put them: REGISTRY/workspaces-NAME:VERSION
REFERENCE = re.compile(r"^(?P<registry>[a-z0-9.-]+/[a-z0-9._-]+)/workspaces-(?P<name>[a-z0-9-]+):(?P<tag>[\w.-]+)$")
NO_NEWS = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
LAB_CONFIG = "/opt/conda/etc/jupyter/labconfig/page_config.json"
PROXIES = {"code-server": ("jupyter-vscode-proxy", "CODE_SERVER"), "rstudio": ("jupyter-rsession-proxy", "RSTUDIO")}


@pytest.fixture(scope="module")
def parsed() -> dict[str, list[dockerfile.Command]]:
    return {name: list(dockerfile.parse_file(str(CONTEXT / name / "Dockerfile"))) for name in NAMES}


def of(commands: list[dockerfile.Command], cmd: str) -> list[dockerfile.Command]:
    return [c for c in commands if c.cmd == cmd.upper()]


def requirements(name: str) -> dict[str, Requirement]:
    lines = (CONTEXT / name / "requirements.txt").read_text().splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {canonicalize_name(r.name): r for r in reqs}


def mounts(command: dockerfile.Command) -> list[dict[str, str]]:
    """The `--mount=type=bind,...` flags of a RUN, as dicts."""
    return [dict(kv.split("=", 1) for kv in flag.removeprefix("--mount=").split(","))
            for flag in command.flags if flag.startswith("--mount=")]


@dataclass
class Resolution:
    returncode: int
    stderr: str
    installs: dict[str, str]  # name -> version, from pip's report


def resolve(requirements_file: Path, report: Path) -> Resolution:
    """What pip would install into an image with this Python, from PyPI alone (nothing installed counts)."""
    # only PyPI: a local wheel folder in the environment must not satisfy a pin PyPI cannot
    env = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
         "--python-version", PYTHON, "--platform", PLATFORM, "--quiet", "--report", str(report),
         "--requirement", str(requirements_file)],
        capture_output=True, text=True, env=env, timeout=180,
    )
    installs = {}
    if run.returncode == 0:
        installs = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"]
                    for i in json.loads(report.read_text())["install"]}
    return Resolution(run.returncode, run.stderr, installs)


def test_the_default_catalog_runs_only_images_built_here():
    catalog = yaml.safe_load((CONTEXT / "catalog.yaml").read_text())["images"]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    built = {}
    for entry in catalog:
        match = REFERENCE.match(entry["image"])
        assert match, f"{entry['id']}: {entry['image']} is not REGISTRY/workspaces-NAME:VERSION"
        assert match["name"] in NAMES, f"{entry['id']}: no images/{match['name']}/Dockerfile builds {entry['image']}"
        assert match["tag"] == project, f"{entry['id']}: `make images` tags {project}, the catalog says {match['tag']}"
        built[match["name"]] = match["registry"]
    assert sorted(built) == NAMES, "an image built here that the default catalog does not offer"
    # one placeholder to replace, the hub image's too
    hub = yaml.safe_load((REPO_ROOT / "helm" / "values.yaml").read_text())["hub"]["image"]["repository"]
    assert set(built.values()) == {hub.rsplit("/", 1)[0]}


@pytest.mark.parametrize("name", NAMES)
def test_it_builds_on_a_docker_stacks_base_pinned_by_date(parsed, name):
    [base] = of(parsed[name], "FROM")
    assert BASE.match(base.value[0]), base.value[0]
    assert not re.search(r"\blatest\b", (CONTEXT / name / "Dockerfile").read_text(), re.IGNORECASE)


def test_every_base_comes_from_the_same_docker_stacks_build(parsed):
    # one date: one Ubuntu and one Python (PYTHON) for all of them
    dates = {re.search(r"\d{4}-\d{2}-\d{2}$", of(commands, "FROM")[0].value[0]).group() for commands in parsed.values()}
    assert len(dates) == 1, dates


@pytest.mark.parametrize("name", NAMES)
def test_it_ends_as_the_user_workspace_pods_run_as_numerically(parsed, name):
    # numeric: the kubelet can only check runAsNonRoot (Pod Security `restricted`) against a number
    assert of(parsed[name], "USER")[-1].value[0] == str(pod_security.USER) == "1000"


def test_no_default_entry_needs_more_than_pod_security_restricted():
    catalog = yaml.safe_load((CONTEXT / "catalog.yaml").read_text())["images"]
    assert [e["id"] for e in catalog if e.get("security")] == []


@pytest.mark.parametrize("name", NAMES)
def test_pip_installs_its_requirements_file_as_wheels_keeping_no_cache(parsed, name):
    [install] = [c for c in of(parsed[name], "RUN") if "pip install" in c.value[0]]
    [mount] = mounts(install)
    assert mount["type"] == "bind" and mount["source"] == f"{name}/requirements.txt"
    words = install.value[0].split()
    # wheels only, as the resolution below: nothing is compiled in the image
    assert "--no-cache-dir" in words and "--only-binary=:all:" in words
    assert words[words.index("--requirement") + 1] == mount["target"]


@pytest.mark.parametrize("name", NAMES)
def test_it_carries_the_hubs_jupyterhub_and_jupyter_server_proxy_all_pinned(name):
    reqs = requirements(name)
    for req in reqs.values():
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", f"{req} is not pinned"
    hub = version("jupyterhub").split(".")[:2]
    [pin] = reqs["jupyterhub"].specifier
    assert pin.version.split(".")[:2] == hub, f"jupyterhub-singleuser {pin.version} beside a {'.'.join(hub)} hub"
    assert "jupyter-server-proxy" in reqs


@pytest.mark.parametrize("name", sorted(PROXIES))
def test_an_app_image_carries_its_proxy_and_a_package_checked_by_digest(parsed, name):
    proxy, arg = PROXIES[name]
    assert proxy in requirements(name)
    args = dict(a.value[0].split("=", 1) for a in of(parsed[name], "ARG"))
    assert re.fullmatch(r"\d[\w.-]*", args[f"{arg}_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", args[f"{arg}_SHA256"])
    [download] = [c for c in of(parsed[name], "RUN") if ".deb" in c.value[0]]
    script = download.value[0]
    assert f"${{{arg}_VERSION}}" in script
    check = script.index(f'echo "${{{arg}_SHA256}}')
    assert script.index("sha256sum --check", check) < min(script.find(i) for i in ("dpkg --install", "apt-get install") if i in script)


@pytest.mark.parametrize("name", NAMES)
def test_it_turns_off_the_jupyter_news_prompt(parsed, name):
    copies = {c.value[-1]: c.value[:-1] for c in of(parsed[name], "COPY")}
    [source] = copies[LAB_CONFIG]
    assert json.loads((CONTEXT / source).read_text()) == NO_NEWS


@pytest.mark.parametrize("name", NAMES)
def test_every_file_it_copies_or_mounts_is_in_the_build_context(parsed, name):
    sources = [s for c in of(parsed[name], "COPY") for s in c.value[:-1]]
    sources += [m["source"] for c in of(parsed[name], "RUN") for m in mounts(c)]
    for source in sources:
        assert (CONTEXT / source).is_file(), f"{source} is not in images/"


@pytest.mark.parametrize("name", NAMES)
def test_apt_leaves_no_package_lists_in_its_layer(parsed, name):
    for run in of(parsed[name], "RUN"):
        if "apt-get update" in run.value[0]:
            assert "rm -rf /var/lib/apt/lists/*" in run.value[0], f"line {run.start_line}"


def hadolint(*paths: Path) -> subprocess.CompletedProcess:
    # style is hadolint's lowest level: any finding at all fails
    return subprocess.run([str(HADOLINT), "--no-color", "--failure-threshold", "style", *map(str, paths)],
                          capture_output=True, text=True, timeout=60)


def test_hadolint_finds_nothing_in_any_image():
    run = hadolint(*sorted(CONTEXT.glob("*/Dockerfile")))
    assert run.returncode == 0, run.stdout + run.stderr


def test_hadolint_fails_a_moving_base_tag(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM quay.io/jupyter/scipy-notebook:latest\nUSER 1000\n")
    run = hadolint(tmp_path / "Dockerfile")
    assert run.returncode != 0 and "DL3007" in run.stdout


def compatible_groups(pins_by_image: dict[str, dict[str, Requirement]]) -> list[list[str]]:
    """Images whose pins never disagree, together: pip resolves each group once.

    A set of requirements that resolves has every subset resolve too (the same versions do), so
    a group's resolution proves each of its images'; images that pin a package differently go
    to different groups.
    """
    groups: list[tuple[list[str], dict[str, Requirement]]] = []
    for name, reqs in pins_by_image.items():
        for members, pins in groups:
            if all(str(pins[n].specifier) == str(r.specifier) for n, r in reqs.items() if n in pins):
                members.append(name)
                pins.update(reqs)
                break
        else:
            groups.append(([name], dict(reqs)))
    return [members for members, _ in groups]


# pyzmq 25.1.0 came out before Python 3.13 and has no wheel for it; the images install wheels only
UNINSTALLABLE = "pyzmq==25.1.0"


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Resolution]]]:
    """pip's resolutions, started together: each group of images once, and one of a pin that cannot install.

    pip waits on the network one request at a time, so they run side by side.
    """
    root = tmp_path_factory.mktemp("resolutions")
    files = {}
    for members in compatible_groups({name: requirements(name) for name in NAMES}):
        pins = {n: r for name in members for n, r in requirements(name).items()}
        files[", ".join(members)] = root / f"{members[0]}.txt"
        files[", ".join(members)].write_text("\n".join(map(str, pins.values())) + "\n")
    files[UNINSTALLABLE] = root / "uninstallable.txt"
    files[UNINSTALLABLE].write_text(UNINSTALLABLE + "\n")
    with ThreadPoolExecutor(len(files)) as pool:
        yield {key: pool.submit(resolve, f, f.with_suffix(".json")) for key, f in files.items()}


def test_every_images_requirements_resolve_on_pypi_for_its_python(resolutions):
    for members, future in resolutions.items():
        if members == UNINSTALLABLE:
            continue
        result = future.result()
        assert result.returncode == 0, f"{members}: {result.stderr}"
        for name in members.split(", "):
            for req in requirements(name).values():
                assert result.installs[canonicalize_name(req.name)] == next(iter(req.specifier)).version, f"{name}: {req}"


def test_images_that_pin_a_package_differently_resolve_apart():
    pins = {"a": {"x": Requirement("x==1")}, "b": {"x": Requirement("x==2")}, "c": {"x": Requirement("x==1"), "y": Requirement("y==3")}}
    assert compatible_groups(pins) == [["a", "c"], ["b"]]


def test_a_pin_that_cannot_install_fails_the_resolution(resolutions):
    result = resolutions[UNINSTALLABLE].result()
    assert result.returncode != 0
    assert f"No matching distribution found for {UNINSTALLABLE}" in result.stderr, result.stderr
