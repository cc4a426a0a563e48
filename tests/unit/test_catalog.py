"""The image catalog and profiles: validation messages, group rules, live reload."""

import logging
import os
from pathlib import Path

import pytest

from workspaces.catalog import CatalogStore, load_catalog
from workspaces.config import load_config
from workspaces.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

GOOD_IMAGES = """\
images:
  - id: lab
    display_name: Lab
    image: example.org/lab:1
    default: true
    local: {python: default}
  - id: team-only
    display_name: Team image
    image: example.org/team:1
    groups: [team]
    local: {python: default}
  - id: vscode
    display_name: VS Code
    image: example.org/code:1
    kind: vscode
"""
GOOD_PROFILES = """\
profiles:
  - id: small
    display_name: Small
    cpu: {guarantee: 500m, limit: 1}
    memory: {guarantee: 1Gi, limit: 2Gi}
    default: true
  - id: gpu
    display_name: GPU
    gpu: {count: 1}
    groups: [gpu-users]
"""


def setup_files(tmp_path: Path, images: str = GOOD_IMAGES, profiles: str = GOOD_PROFILES) -> Path:
    (tmp_path / "catalog.yaml").write_text(images)
    (tmp_path / "profiles.yaml").write_text(profiles)
    config = tmp_path / "workspaces.yaml"
    config.write_text("catalog: catalog.yaml\nprofiles: profiles.yaml\n")
    return config


def catalog_issues(tmp_path: Path, images: str = GOOD_IMAGES, profiles: str = GOOD_PROFILES) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_catalog(load_config(setup_files(tmp_path, images, profiles)))
    return info.value.lines()


def test_the_default_catalog_and_profiles_are_valid():
    catalog = load_catalog(load_config(REPO / "config" / "workspaces.yaml"))
    assert catalog.default_image([], "local").id == "jupyter-scipy"
    assert catalog.default_profile([]).id == "cpu-small"


def test_a_good_catalog_loads(tmp_path):
    catalog = load_catalog(load_config(setup_files(tmp_path)))
    assert [i.id for i in catalog.images] == ["lab", "team-only", "vscode"]
    assert catalog.profile("small").cpu.guarantee == 0.5


def test_errors_name_the_file_the_entry_and_the_problem(tmp_path):
    bad = GOOD_PROFILES.replace("gpu: {count: 1}", "gpu: {count: -1}")
    [line] = catalog_issues(tmp_path, profiles=bad)
    assert line == f"{tmp_path / 'profiles.yaml'}: profiles[1].gpu.count: must be >= 0 (entry 'gpu')"


def test_unknown_kind_lists_the_kinds(tmp_path):
    bad = GOOD_IMAGES.replace("kind: vscode", "kind: emacs")
    [line] = catalog_issues(tmp_path, images=bad)
    assert line.endswith("images[2].kind: must be one of: 'jupyterlab', 'vscode', 'rstudio' (entry 'vscode')")


def test_missing_required_key(tmp_path):
    bad = GOOD_IMAGES.replace("    image: example.org/lab:1\n", "")
    [line] = catalog_issues(tmp_path, images=bad)
    assert line.endswith("images[0].image: is required (entry 'lab')")


def test_duplicate_ids_are_refused(tmp_path):
    bad = GOOD_IMAGES.replace("id: team-only", "id: lab")
    [line] = catalog_issues(tmp_path, images=bad)
    assert line.endswith("images[1].id: duplicate id 'lab' (also images[0]) (entry 'lab')")


def test_two_defaults_are_refused(tmp_path):
    bad = GOOD_PROFILES.replace("groups: [gpu-users]", "default: true")
    [line] = catalog_issues(tmp_path, profiles=bad)
    assert line.endswith("profiles[1].default: only one entry may be the default (also profiles[0]) (entry 'gpu')")


def test_ids_must_be_dns_labels(tmp_path):
    bad = GOOD_IMAGES.replace("id: lab", "id: My_Lab")
    [line] = catalog_issues(tmp_path, images=bad)
    assert "images[0].id: must be lowercase letters, digits and '-'" in line


def test_guarantee_above_limit(tmp_path):
    bad = GOOD_PROFILES.replace("guarantee: 1Gi, limit: 2Gi", "guarantee: 4Gi, limit: 2Gi")
    [line] = catalog_issues(tmp_path, profiles=bad)
    assert line.endswith("profiles[0].memory: guarantee 4Gi is larger than limit 2Gi (entry 'small')")


def test_gpu_resource_must_be_a_vendor_resource(tmp_path):
    bad = GOOD_PROFILES.replace("gpu: {count: 1}", "gpu: {count: 1, resource: gpu}")
    [line] = catalog_issues(tmp_path, profiles=bad)
    assert "profiles[1].gpu: resource 'gpu' must look like vendor.com/gpu" in line


def test_affinity_is_checked_field_by_field(tmp_path):
    bad = GOOD_PROFILES.replace(
        "gpu: {count: 1}",
        "gpu: {count: 1}\n    affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: "
        "[{weight: 500, preference: {matchExpressions: [{key: zone, operator: Near}]}}]}}",
    )
    lines = catalog_issues(tmp_path, profiles=bad)
    prefix = "profiles[1].affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
    assert any(f"{prefix}.weight: must be <= 100" in line for line in lines), lines
    assert any(f"{prefix}.preference.matchExpressions[0].operator: must be one of: 'In'" in line for line in lines), lines


def test_local_runtime_needs_exactly_one_way(tmp_path):
    bad = GOOD_IMAGES.replace("local: {python: default}\n  - id: team-only", "local: {}\n  - id: team-only")
    [line] = catalog_issues(tmp_path, images=bad)
    assert line.endswith("images[0].local: set exactly one of python or command (entry 'lab')")


def test_empty_catalog_is_refused(tmp_path):
    [line] = catalog_issues(tmp_path, images="images: []\n")
    assert line.endswith("images: List should have at least 1 item after validation, not 0")


def test_inline_catalog_and_profiles_report_paths_in_workspaces_yaml(tmp_path):
    config = tmp_path / "workspaces.yaml"
    config.write_text(
        "catalog:\n  images:\n    - {id: a, display_name: A, image: x, kind: bad}\n"
        "profiles:\n  - {id: p, display_name: P, gpu: {count: -2}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_catalog(load_config(config))
    assert info.value.lines() == [
        f"{config}: catalog.images[0].kind: must be one of: 'jupyterlab', 'vscode', 'rstudio' (entry 'a')"
    ]
    config.write_text(
        "catalog:\n  images:\n    - {id: a, display_name: A, image: x}\n"
        "profiles:\n  - {id: p, display_name: P, gpu: {count: -2}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_catalog(load_config(config))
    assert info.value.lines() == [f"{config}: profiles[0].gpu.count: must be >= 0 (entry 'p')"]


def test_group_rules_filter_images_and_profiles(tmp_path):
    catalog = load_catalog(load_config(setup_files(tmp_path)))
    assert [i.id for i in catalog.images_for([], "local")] == ["lab"]
    assert [i.id for i in catalog.images_for(["team"], "local")] == ["lab", "team-only"]
    assert [p.id for p in catalog.profiles_for([])] == ["small"]
    assert [p.id for p in catalog.profiles_for(["gpu-users"])] == ["small", "gpu"]


def test_an_image_without_local_runtime_is_unavailable_locally_with_a_reason(tmp_path):
    catalog = load_catalog(load_config(setup_files(tmp_path)))
    vscode = catalog.image("vscode")
    assert "no local runtime" in vscode.unavailable_reason("local")
    assert vscode.unavailable_reason("kubernetes") is None


def test_an_image_whose_local_runtime_is_missing_is_unavailable(tmp_path):
    images = GOOD_IMAGES.replace("local: {python: default}\n  - id: team-only", "local: {python: /nonexistent/python}\n  - id: team-only")
    catalog = load_catalog(load_config(setup_files(tmp_path, images=images)))
    assert "'/nonexistent/python' is not an executable" in catalog.image("lab").unavailable_reason("local")


def bump(path: Path, text: str) -> None:
    """Write and move the mtime forward, so a same-second edit is noticed."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_store_picks_up_an_edit_without_restart(tmp_path):
    config = setup_files(tmp_path)
    store = CatalogStore(load_config(config))
    assert store.current().image("new") is None
    bump(tmp_path / "catalog.yaml", GOOD_IMAGES + "  - {id: new, display_name: New, image: x, local: {python: default}}\n")
    assert store.current().image("new") is not None


def test_store_keeps_the_last_good_catalog_and_logs_an_invalid_edit(tmp_path, caplog):
    config = setup_files(tmp_path)
    store = CatalogStore(load_config(config), log=logging.getLogger("test.catalog"))
    bump(tmp_path / "profiles.yaml", GOOD_PROFILES.replace("count: 1", "count: many"))
    with caplog.at_level(logging.ERROR, logger="test.catalog"):
        catalog = store.current()
    assert catalog.profile("gpu").gpu.count == 1
    [record] = caplog.records
    assert "keeping the last good one" in record.getMessage()
    assert "profiles.yaml: profiles[1].gpu.count: must be an integer, not a string (entry 'gpu')" in record.getMessage()
    # logged once, not on every call
    caplog.clear()
    store.current()
    assert not caplog.records


def test_store_recovers_when_the_file_is_fixed(tmp_path):
    config = setup_files(tmp_path)
    store = CatalogStore(load_config(config))
    bump(tmp_path / "catalog.yaml", "images: oops\n")
    store.current()
    assert store.last_error is not None
    bump(tmp_path / "catalog.yaml", GOOD_IMAGES.replace("display_name: Lab", "display_name: Lab 2"))
    assert store.current().image("lab").display_name == "Lab 2"
    assert store.last_error is None


def test_store_notices_a_changed_reference_in_workspaces_yaml(tmp_path):
    config = setup_files(tmp_path)
    (tmp_path / "other.yaml").write_text(GOOD_IMAGES.replace("id: lab", "id: other-lab"))
    store = CatalogStore(load_config(config))
    bump(config, "catalog: other.yaml\nprofiles: profiles.yaml\n")
    assert store.current().image("other-lab") is not None


def test_hub_settings_stay_as_at_start_when_the_config_file_changes(tmp_path):
    config = setup_files(tmp_path)
    store = CatalogStore(load_config(config))
    bump(config, "catalog: catalog.yaml\nprofiles: profiles.yaml\nlocal: {gpus: none}\n")
    store.current()
    assert store.config.settings.local.gpus == "auto"


def test_a_relative_local_python_is_refused(tmp_path):
    bad = GOOD_IMAGES.replace("local: {python: default}\n  - id: team-only", "local: {python: venv/bin/python}\n  - id: team-only")
    [line] = catalog_issues(tmp_path, images=bad)
    assert line.endswith("images[0].local: python must be 'default' or an absolute path, not 'venv/bin/python' (entry 'lab')")


def test_a_relative_command_is_refused_but_a_program_on_path_is_fine(tmp_path):
    bad = GOOD_IMAGES.replace("local: {python: default}\n  - id: team-only", "local: {command: [./serve]}\n  - id: team-only")
    [line] = catalog_issues(tmp_path, images=bad)
    assert "command[0] must be a program on PATH or an absolute path, not './serve'" in line
    ok = GOOD_IMAGES.replace("local: {python: default}\n  - id: team-only", "local: {command: [jupyterhub-singleuser]}\n  - id: team-only")
    assert load_catalog(load_config(setup_files(tmp_path, images=ok))).image("lab").local.command == ["jupyterhub-singleuser"]
