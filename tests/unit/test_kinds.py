"""The kind table: what each kind carries, an entry's overrides, and why a kind cannot run locally."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from workspaces import kinds
from workspaces.catalog import ImageEntry, validate_images
from workspaces.errors import ConfigError


def entry(**fields) -> ImageEntry:
    return ImageEntry(**{"id": "e", "display_name": "E", "image": "example.org/e:1", "local": {"python": "default"}, **fields})


def issues(**fields) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_images({"images": [{"id": "e", "display_name": "E", "image": "x", **fields}]}, "catalog.yaml")
    return info.value.lines()


def test_each_kind_lands_where_its_server_serves_it():
    assert {name: (k.url, k.server_proxy) for name, k in kinds.KINDS.items()} == {
        "jupyterlab": ("/lab", None),
        "vscode": ("/vscode/", "vscode"),
        "rstudio": ("/rstudio/", "rstudio"),
    }


def test_vscode_and_rstudio_are_proxied_over_unix_sockets_not_tcp_ports():
    assert kinds.KINDS["vscode"].env["JUPYTER_VSCODE_PROXY_USE_SOCKET"] == "yes"
    assert kinds.KINDS["rstudio"].env["JUPYTER_RSESSION_PROXY_USE_SOCKET"] == "yes"


def test_proxied_kinds_report_proxied_traffic_as_activity():
    assert "jupyter-server-proxy" in kinds.KINDS["vscode"].activity
    assert "jupyter-server-proxy" in kinds.KINDS["rstudio"].activity


def test_an_entry_without_kind_options_gets_its_kinds_defaults():
    assert entry(kind="vscode").kind_info is kinds.KINDS["vscode"]


def test_kind_options_change_the_landing_url_and_add_environment():
    info = entry(kind="vscode", kind_options={"url": "/vscode/?folder=/srv/project", "env": {"CODE_EXTENSIONSDIR": "/opt/ext"}}).kind_info
    assert info.url == "/vscode/?folder=/srv/project"
    assert info.env == {**kinds.KINDS["vscode"].env, "CODE_EXTENSIONSDIR": "/opt/ext"}
    assert kinds.KINDS["vscode"].url == "/vscode/"  # the table itself is unchanged


def test_a_landing_url_off_the_server_is_refused():
    [line] = issues(kind_options={"url": "https://elsewhere.example/"})
    assert line == (
        "catalog.yaml: images[0].kind_options.url: must be a path on the server starting with '/', "
        "such as /vscode/, not 'https://elsewhere.example/' (entry 'e')"
    )


def test_environment_the_hub_sets_cannot_be_overridden():
    [line] = issues(kind_options={"env": {"JUPYTERHUB_API_TOKEN": "x"}})
    assert line.endswith(
        "images[0].kind_options.env: JUPYTERHUB_API_TOKEN is set by the hub for every server and cannot be changed here (entry 'e')"
    )


def test_an_entry_may_set_how_often_its_server_reports_activity_to_the_hub():
    assert entry(kind_options={"env": {"JUPYTERHUB_ACTIVITY_INTERVAL": "60"}}).kind_info.env == {"JUPYTERHUB_ACTIVITY_INTERVAL": "60"}


def test_unknown_kind_options_are_listed():
    [line] = issues(kind_options={"port": 8080})
    assert "images[0].kind_options.port" in line and "url" in line and "env" in line


@pytest.fixture
def programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH and empty install folders: only what a test puts in ``programs`` is installed."""
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    for name in ("vscode", "rstudio"):
        monkeypatch.setitem(kinds.KINDS, name, dataclasses.replace(kinds.KINDS[name], local_paths=(tmp_path,)))
    return tmp_path


def install(folder: Path, program: str) -> None:
    (folder / program).write_text("#!/bin/sh\n")
    (folder / program).chmod(0o755)


def test_rstudio_without_rstudio_server_is_unavailable_locally_and_says_why(programs: Path):
    reason = entry(kind="rstudio", local={"command": ["/bin/sh"]}).unavailable_reason("local")
    assert reason == (
        "RStudio needs 'rserver', which is not installed on this machine "
        "(install RStudio Server from Posit's .deb; Debian does not package it)"
    )


def test_rstudio_with_rstudio_server_installed_is_available_locally(programs: Path):
    install(programs, "rserver")
    assert entry(kind="rstudio", local={"command": ["/bin/sh"]}).unavailable_reason("local") is None


def test_vscode_needs_the_projects_code_server(programs: Path):
    vscode = entry(kind="vscode", local={"command": ["/bin/sh"]})
    assert vscode.unavailable_reason("local") == (
        "VS Code needs 'code-server', which is not installed on this machine "
        "(`make install` installs it from npm into node_modules/)"
    )
    install(programs, "code-server")
    assert vscode.unavailable_reason("local") is None


def test_the_kinds_program_matters_only_on_the_local_backend(programs: Path):
    assert entry(kind="rstudio").unavailable_reason("kubernetes") is None


def test_the_local_backend_finds_code_server_in_the_projects_node_modules():
    assert kinds.KINDS["vscode"].local_paths == (kinds.REPO_ROOT / "node_modules" / ".bin",)
    assert kinds.KINDS["vscode"].local_path("/usr/bin").split(":") == [str(kinds.NODE_BIN), "/usr/bin"]

