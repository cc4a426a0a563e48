"""The chart's pre-puller values (``prePuller``, zero-to-jupyterhub's names): off by default, rendered into
the hub's config, and the Role the hub needs for its DaemonSets, which the chart itself never makes."""

from __future__ import annotations

import pytest
import yaml

from workspaces.config import WorkspacesConfig

from ..k8s.kube import rules_of
from ..support.cluster_fixture import RBAC
from .chart import CHART, NAMESPACE, helm, of_kind, render, role_in_release_namespace, workspaces_yaml

ON = ["--set", "prePuller.continuous.enabled=true"]


def prepull_of(*args: str):
    config = yaml.safe_load(workspaces_yaml(render(*args)))
    return WorkspacesConfig.model_validate(config).kubernetes.prepull


def prepuller_roles(objects):
    return [r for r in of_kind(objects, "Role") if r["metadata"]["labels"]["app.kubernetes.io/component"] == "prepuller"]


def test_the_pre_puller_is_off_by_default_and_the_chart_makes_no_daemon_set():
    objects = render()
    assert prepull_of().enabled is False
    assert of_kind(objects, "DaemonSet") == []  # the hub makes them, from the catalog


def test_on_the_hub_keeps_its_daemon_sets_in_the_release_namespace_with_the_pause_image_of_the_values():
    prepull = prepull_of(*ON, "--set", "prePuller.pause.image.name=mirror.example.org/pause",
                         "--set-string", "prePuller.pause.image.tag=3.9")
    assert (prepull.enabled, prepull.namespace, prepull.pause_image) == (True, NAMESPACE, "mirror.example.org/pause:3.9")
    assert prepull_of(*ON).pause_image == "registry.k8s.io/pause:3.10"


@pytest.mark.parametrize("args", [[], ON], ids=["off", "on"])
def test_the_pre_pullers_role_is_the_documented_one_in_the_release_namespace_on_or_off(args):
    # off too: a hub whose pre-puller was turned off removes the DaemonSets it made
    [documented] = [d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "Role"]
    objects = render(*args)
    role = role_in_release_namespace(objects, prepuller_roles(objects))
    assert rules_of(role) == rules_of(documented) == {("apps", "daemonsets", v) for v in ("list", "create", "patch", "delete")}


def test_without_rbac_the_chart_makes_no_pre_puller_role():
    assert prepuller_roles(render(*ON, "--set", "rbac.create=false")) == []


@pytest.mark.parametrize("args, message", [
    (["--set-string", "prePuller.continuous.enabled=yes"], "at '/prePuller/continuous/enabled': got string, want boolean"),
    (["--set", "prePuller.hook.enabled=true"], "at '/prePuller': additional properties 'hook' not allowed"),
    (["--set", "prePuller.pause.image.tag="], "at '/prePuller/pause/image/tag'"),
], ids=["not a boolean", "z2jh's hook, which has no meaning here", "empty tag"])
def test_the_schema_refuses_bad_pre_puller_values(args, message):
    done = helm("template", "ws", str(CHART), *args)
    assert done.returncode != 0
    assert message in done.stderr
