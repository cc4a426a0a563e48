"""config/jupyterhub_config.py as JupyterHub loads it: what the YAML turns into."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jupyterhub.utils import subdomain_hook_idna
from traitlets.config.loader import PyFileConfigLoader

from workspaces.cli import _banner
from workspaces.launch import prepare

REPO = Path(__file__).resolve().parents[2]


def hub_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict) -> object:
    config_file = tmp_path / "workspaces.yaml"
    config_file.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("WORKSPACES_CONFIG", str(config_file))
    monkeypatch.setenv("WORKSPACES_DATA_DIR", str(tmp_path / "data"))
    return PyFileConfigLoader("jupyterhub_config.py", path=str(REPO / "config")).load_config()


def services(config) -> dict[str, dict]:
    return {s["name"]: s for s in config.JupyterHub.services}


def test_the_hubs_services_listen_on_loopback_by_default(tmp_path, monkeypatch):
    found = services(hub_config(tmp_path, monkeypatch, {}))
    for name in ("workspaces", "culler"):
        assert "--ip=127.0.0.1" in found[name]["command"]
        assert found[name]["url"].startswith("http://127.0.0.1:")


def test_the_hubs_services_listen_beyond_loopback_when_the_proxy_reaches_them_from_elsewhere(tmp_path, monkeypatch):
    found = services(hub_config(tmp_path, monkeypatch, {"hub": {"services_host": "workspaces-hub"}}))
    for name in ("workspaces", "culler"):
        assert "--ip=0.0.0.0" in found[name]["command"]
        assert found[name]["url"].startswith("http://workspaces-hub:")


def test_the_hubs_pages_link_to_the_dashboard(tmp_path, monkeypatch):
    config = hub_config(tmp_path, monkeypatch, {})
    [templates] = config.JupyterHub.template_paths
    assert (Path(templates) / "page.html").exists() and (Path(templates) / "home.html").exists()
    assert services(config)["workspaces"]["display"] is True


def test_one_origin_serves_everything_unless_a_subdomain_host_is_set(tmp_path, monkeypatch):
    assert "subdomain_host" not in hub_config(tmp_path, monkeypatch, {}).JupyterHub


def test_the_subdomain_host_gives_each_user_and_service_a_host_of_its_own(tmp_path, monkeypatch):
    config = hub_config(tmp_path, monkeypatch, {"hub": {"subdomain_host": "https://hub.example.org"}})
    assert config.JupyterHub.subdomain_host == "https://hub.example.org"
    # the rule workspaces.client follows to find the API on the service's host
    assert config.JupyterHub.subdomain_hook is subdomain_hook_idna


def test_the_banner_sends_people_to_the_subdomain_host(tmp_path):
    config_file = tmp_path / "workspaces.yaml"
    config_file.write_text(yaml.safe_dump({"hub": {"subdomain_host": "https://hub.example.org"}}))
    assert "Workspaces is starting at https://hub.example.org/\n" in _banner(prepare(config_file, tmp_path / "data"))


def test_the_hub_database_is_indexed_for_user_lists_when_the_config_loads(tmp_path, monkeypatch):
    from sqlalchemy import create_engine, inspect

    from jupyterhub import orm
    from workspaces.hub_db import SPAWNERS_BY_USER

    config = hub_config(tmp_path, monkeypatch, {})
    engine = create_engine(config.JupyterHub.db_url)
    orm.new_session_factory(config.JupyterHub.db_url)().close()  # the hub makes its tables after loading the config
    assert SPAWNERS_BY_USER in {i["name"] for i in inspect(engine).get_indexes("spawners")}
    engine.dispose()


def controllers(config) -> list[str]:
    prefix = "--WorkspacesAPI.controllers="
    return [arg[len(prefix):] for arg in services(config)["workspaces"]["command"] if arg.startswith(prefix)]


def test_on_kubernetes_the_api_service_keeps_the_pre_pulls_and_the_placeholders(tmp_path, monkeypatch):
    config = hub_config(tmp_path, monkeypatch, {"backend": "kubernetes"})
    assert controllers(config) == ["spawner.prepuller.keep_prepulled", "spawner.placeholders.keep_placeholders"]


def test_locally_the_api_service_runs_no_kubernetes_controller(tmp_path, monkeypatch):
    assert controllers(hub_config(tmp_path, monkeypatch, {})) == []
