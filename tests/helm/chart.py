"""Render the chart in helm/ with the real Helm binary (unpacked by `make install`)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from ..support.hub import REPO

CHART = REPO / "helm"
HELM = REPO / "node_modules" / ".bin" / "helm"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
NAMESPACE = "workspaces-system"

# name -> helm arguments: the defaults, each example values file, and the namespace-template mode
VALUES: dict[str, list[str]] = {"default": []}
VALUES.update({path.stem: ["-f", str(path)] for path in EXAMPLES})
VALUES["namespace-template"] = ["--set", "workspaces.kubernetes.namespace_template=ws-{username}"]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.exists(), f"{HELM} is missing: run `make install`"
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=60)


def render(*args: str) -> list[dict[str, Any]]:
    done = helm("template", "ws", str(CHART), "--namespace", NAMESPACE, *args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def workspaces_yaml(objects: list[dict[str, Any]]) -> str:
    [config_map] = of_kind(objects, "ConfigMap")
    return config_map["data"]["workspaces.yaml"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path
