"""The Kubernetes backend's pod for each kind: where it lands and the kind's environment; nothing is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from .kube import manifests, write_config

TEAM_CODE = {
    "id": "team-code", "display_name": "Team VS Code", "image": "example.org/code:1", "kind": "vscode",
    "kind_options": {"url": "/vscode/?folder=/home/jovyan/project", "env": {"CODE_EXTENSIONSDIR": "/opt/ext"}},
}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("kube-kinds"), images=(TEAM_CODE,))


def notebook(pod: dict) -> dict:
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    return container


def env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_a_vscode_pod_lands_on_vscode_with_code_server_on_a_unix_socket(config_file: Path):
    pod, _ = manifests(config_file, {"image": "code-server"})
    container = notebook(pod)
    assert env(container)["JUPYTERHUB_DEFAULT_URL"] == "/vscode/"
    assert env(container)["JUPYTER_VSCODE_PROXY_USE_SOCKET"] == "yes"
    assert env(container)["CODE_EXECUTABLE"] == "code-server"


def test_an_entrys_kind_options_reach_the_pod(config_file: Path):
    container = notebook(manifests(config_file, {"image": "team-code"})[0])
    assert env(container)["JUPYTERHUB_DEFAULT_URL"] == "/vscode/?folder=/home/jovyan/project"
    assert env(container)["CODE_EXTENSIONSDIR"] == "/opt/ext"


def test_a_jupyterlab_pod_gets_no_proxy_environment(config_file: Path):
    container = notebook(manifests(config_file, {"image": "lab"})[0])
    assert env(container)["JUPYTERHUB_DEFAULT_URL"] == "/lab"
    assert not {"JUPYTER_VSCODE_PROXY_USE_SOCKET", "CODE_EXECUTABLE"} & set(env(container))
