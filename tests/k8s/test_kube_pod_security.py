"""Workspace pods meet Pod Security "restricted" by default, and their home volume is writable.

The defaults are zero-to-jupyterhub's: the server runs as uid 1000 (jovyan)
in group 100, and fsGroup 100 makes a freshly provisioned volume writable by it.
An image whose catalog entry says it needs more (``security``) gets that, and
only that image.

Whether a pod meets "restricted" is the real API server's Pod Security
admission's to say (a server-side dry run in a restricted namespace); the
rest are checks of the manifest itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ..support.cluster import path
from .kube import make_spawner, manifests, write_config

SPEC = {"image": "lab", "profile": "small"}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("pod-security"))


def test_a_workspace_pod_meets_pod_security_restricted(cluster, tmp_path, namespace):
    pod, _ = manifests(write_config(tmp_path, namespace=namespace), SPEC)
    # refused with 403 "violates PodSecurity" if it does not; nothing is created
    cluster.admin.request("POST", path("pods", namespace), pod, params={"dryRun": "All"})


def test_the_pod_runs_as_jovyan_and_its_volumes_belong_to_the_users_group(config_file):
    pod, _ = manifests(config_file, SPEC)
    assert pod["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 100,
        "fsGroup": 100,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_every_container_drops_all_capabilities_and_cannot_gain_privileges(config_file):
    pod, _ = manifests(config_file, SPEC)
    containers = [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
    assert [c["securityContext"] for c in containers] == [
        {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    ]


# -- an image that needs more -------------------------------------------------------------

ROOT_IMAGE = {"id": "rooted", "display_name": "Starts as root", "image": "example.org/rooted:1", "security": {"run_as_root": True}}
PTRACE_IMAGE = {"id": "debugger", "display_name": "Debugger", "image": "example.org/debug:1", "security": {"capabilities": ["SYS_PTRACE"]}}


@pytest.fixture(scope="module")
def catalog_with_needs(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("needs"), images=(ROOT_IMAGE, PTRACE_IMAGE))


def test_an_image_that_runs_as_root_gets_root_and_nothing_else(catalog_with_needs):
    pod, _ = manifests(catalog_with_needs, {"image": "rooted", "profile": "small"})
    assert pod["spec"]["securityContext"] == {
        "runAsUser": 0, "runAsGroup": 0, "fsGroup": 100, "seccompProfile": {"type": "RuntimeDefault"}
    }
    assert pod["spec"]["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_an_image_that_needs_a_capability_gets_it_added(catalog_with_needs):
    pod, _ = manifests(catalog_with_needs, {"image": "debugger", "profile": "small"})
    assert pod["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["SYS_PTRACE"]}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_an_images_needs_apply_to_its_own_starts_only(catalog_with_needs):
    async def go():
        s = make_spawner(catalog_with_needs, "http://127.0.0.1:1")
        s.apply_spec({"image": "rooted", "profile": "small"})
        s.apply_spec({"image": "lab", "profile": "small"})  # the same workspace, started again with another image
        return await s.get_pod_manifest()

    pod = asyncio.run(go())
    assert pod.spec.security_context["runAsNonRoot"] is True and pod.spec.security_context["runAsUser"] == 1000
