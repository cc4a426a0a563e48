"""The workspaces command: one-line errors, non-zero exit codes, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from ..support.hub import REPO, WORKSPACES, free_ports


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WORKSPACES), *args], capture_output=True, text=True, timeout=timeout)


def test_config_check_accepts_the_example():
    result = run("config", "check", str(REPO / "config" / "workspaces.yaml"))
    assert result.returncode == 0
    assert result.stdout.strip().endswith("OK (backend local, 5 images, 3 profiles)")


def test_config_check_prints_every_error_with_its_path(tmp_path: Path):
    (tmp_path / "profiles.yaml").write_text(
        "profiles:\n  - {id: a, display_name: A, gpu: {count: -1}}\n  - {id: b, display_name: B, cpu: {limit: lots}}\n"
    )
    config = tmp_path / "workspaces.yaml"
    config.write_text(f"catalog: {REPO / 'images' / 'catalog.yaml'}\nprofiles: profiles.yaml\n")
    result = run("config", "check", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"workspaces: error: {tmp_path / 'profiles.yaml'}: profiles[0].gpu.count: must be >= 0 (entry 'a')",
        f"workspaces: error: {tmp_path / 'profiles.yaml'}: profiles[1].cpu.limit: must be a CPU amount such as 0.5, 2 or 500m, not 'lots' (entry 'b')",
    ]


def test_config_check_of_a_missing_file(tmp_path: Path):
    result = run("config", "check", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "cannot read file" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_refuses_an_invalid_config_with_the_same_messages(tmp_path: Path):
    config = tmp_path / "workspaces.yaml"
    config.write_text("hub:\n  port: 0\nbackend: cloud\n")
    result = run("up", "--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"workspaces: error: {config}: backend: must be one of: 'local', 'kubernetes'",
        f"workspaces: error: {config}: hub.port: must be >= 1",
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_up_says_which_port_is_taken(tmp_path: Path):
    port, hub_port, api_port = free_ports(3)
    config = tmp_path / "workspaces.yaml"
    config.write_text(
        f"hub: {{port: {port}, hub_port: {hub_port}, proxy_api_port: {api_port}}}\n"
        f"catalog: {REPO / 'images' / 'catalog.yaml'}\nprofiles: {REPO / 'config' / 'profiles.yaml'}\n"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = run("up", "--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"workspaces: error: 127.0.0.1:{port} (port) is already in use; is another hub running? "
        "Choose another with --port or hub.port in the config file"
    )


def test_a_bad_port_argument_is_a_usage_error(tmp_path: Path):
    result = run("up", "--port", "99999", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--port must be between 1 and 65535" in result.stderr


def test_up_with_an_unusable_data_dir_is_one_line(tmp_path: Path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = run("up", "--config", str(REPO / "config" / "workspaces.yaml"), "--data-dir", str(not_a_dir))
    assert result.returncode == 1
    assert result.stderr.strip() == f"workspaces: error: cannot use {not_a_dir} as the data directory: File exists"


def test_a_culler_pass_without_a_hub_is_one_line(tmp_path: Path):
    port = free_ports(1)[0]
    result = subprocess.run(
        [sys.executable, "-m", "culler", f"--config={REPO / 'config' / 'workspaces.yaml'}", f"--api-url=http://127.0.0.1:{port}/hub/api", "--once"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "JUPYTERHUB_API_TOKEN": "x"},
    )
    assert result.returncode == 1
    [line] = [l for l in result.stderr.splitlines() if "error" in l]
    assert line.startswith("workspaces-culler: error: cull pass failed: ClientConnectorError")
    assert "Traceback" not in result.stderr
