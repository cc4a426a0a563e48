"""A swapped package on the way into a workspace image: code-server's and RStudio Server's .deb.

Both come from outside any package archive (GitHub's release assets, Posit's download server),
so nothing but their Dockerfile's digest check stands between a tampered download and every
workspace that runs the image. Each test runs the Dockerfile's own download-check-install
chain in bash with the network's part played by a local file (no engine and no such server
here) and the install replaced by a marker: the marker shows whether installing would have run.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
from pathlib import Path

import dockerfile
import pytest

from workspaces.config import REPO_ROOT

# the images that install a package fetched by URL, and their ARG prefix
FETCHED = {"code-server": "CODE_SERVER", "rstudio": "RSTUDIO"}


def install_chain(name: str, package: bytes, tmp_path: Path, digest: str | None = None) -> tuple[subprocess.CompletedProcess, bool]:
    """Run the image's download RUN with `package` as what the download got: (the run, installed?)."""
    commands = list(dockerfile.parse_file(str(REPO_ROOT / "images" / name / "Dockerfile")))
    args = dict(c.value[0].split("=", 1) for c in commands if c.cmd == "ARG")
    [run] = [c for c in commands if c.cmd == "RUN" and ".deb" in c.value[0]]
    download, *rest = re.split(r"\s&&\s", run.value[0])
    words = shlex.split(download)
    assert words[0] == "curl", download
    fetched, served, marker = words[words.index("-o") + 1], tmp_path / "served.deb", tmp_path / "installed"
    served.write_bytes(package)
    chain = [f"cp {served} {tmp_path / 'fetched.deb'}"]
    for step in rest:
        if re.match(r"(dpkg|apt-get)\b", step.strip()):
            chain.append(f"touch {marker}")  # installing is where the package would take effect
            break
        chain.append(step.replace(fetched, str(tmp_path / "fetched.deb")))
    env = {"PATH": os.environ["PATH"], **args}
    if digest is not None:
        env[f"{FETCHED[name]}_SHA256"] = digest
    result = subprocess.run(["bash", "-o", "pipefail", "-c", " && ".join(chain)], capture_output=True, text=True, env=env, timeout=30)
    return result, marker.exists()


@pytest.mark.parametrize("name", sorted(FETCHED))
def test_a_tampered_package_is_never_installed(name, tmp_path):
    result, installed = install_chain(name, b"a package someone swapped on the way", tmp_path)
    assert not installed, "the swapped package would have been installed"
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(FETCHED))
def test_the_package_its_digest_names_is_installed(name, tmp_path):
    package = b"the package the digest was taken from"
    result, installed = install_chain(name, package, tmp_path, digest=hashlib.sha256(package).hexdigest())
    assert installed and result.returncode == 0, result.stderr
