"""The chart's placeholders (``workspaces.kubernetes.placeholders``): off by default; on, the two
PriorityClasses the hub cannot make and names them in the hub's config; the hub's Role for the
placeholders' Deployments, on or off (the chart never makes the Deployments: the hub does, per profile)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from workspaces.config import WorkspacesConfig

from ..k8s.kube import SCHEMA_VERSIONS, rules_of
from .chart import CHART, NAMESPACE, helm, of_kind, render, role_in_release_namespace, workspaces_yaml

ON = ["--set", "workspaces.kubernetes.placeholders.enabled=true"]
DOCUMENTED = list(yaml.safe_load_all((Path(__file__).resolve().parents[2] / "config" / "kubernetes" / "placeholders.yaml").read_text()))


def placeholders_of(objects):
    return WorkspacesConfig.model_validate(yaml.safe_load(workspaces_yaml(objects))).kubernetes.placeholders


def placeholder_roles(objects):
    return [r for r in of_kind(objects, "Role") if r["metadata"]["labels"]["app.kubernetes.io/component"] == "placeholder"]


def test_placeholders_are_off_by_default_with_no_priority_class():
    objects = render()
    assert placeholders_of(objects).enabled is False
    assert of_kind(objects, "PriorityClass") == []


def test_on_the_hub_keeps_them_in_the_release_namespace_with_the_charts_priority_classes():
    objects = render(*ON)
    settings = placeholders_of(objects)
    classes = {c["metadata"]["name"]: c for c in of_kind(objects, "PriorityClass")}
    assert settings.enabled and settings.namespace == NAMESPACE
    low, high = classes[settings.priority_class], classes[settings.workspace_priority_class]
    # below the workspaces, at the autoscaler's cutoff (so a Pending one still adds a node), never preempting
    assert (low["value"], low["preemptionPolicy"], high["value"]) == (-10, "Never", 0)
    assert not low["globalDefault"] and not high["globalDefault"]


def test_the_placeholders_objects_of_the_chart_and_of_the_documented_file_are_valid_kubernetes():
    objects = render(*ON)
    for obj in [*of_kind(objects, "PriorityClass"), *placeholder_roles(objects), *DOCUMENTED]:
        for version in SCHEMA_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_the_charts_priority_classes_are_the_documented_ones_but_for_their_names():
    def unnamed(c):
        return {k: v for k, v in c.items() if k not in ("metadata", "description")}

    documented = sorted((unnamed(c) for c in DOCUMENTED if c["kind"] == "PriorityClass"), key=lambda c: c["value"])
    assert sorted((unnamed(c) for c in of_kind(render(*ON), "PriorityClass")), key=lambda c: c["value"]) == documented


@pytest.mark.parametrize("args", [[], ON], ids=["off", "on"])
def test_the_placeholders_role_is_the_documented_one_in_the_release_namespace_on_or_off(args):
    # off too: a hub whose placeholders were turned off removes the Deployments it kept
    [documented] = [d for d in DOCUMENTED if d["kind"] == "Role"]
    objects = render(*args)
    role = role_in_release_namespace(objects, placeholder_roles(objects))
    assert rules_of(role) == rules_of(documented) == {("apps", "deployments", v) for v in ("list", "create", "patch", "delete")}


def test_without_rbac_the_chart_makes_no_placeholders_role():
    assert placeholder_roles(render(*ON, "--set", "rbac.create=false")) == []


@pytest.mark.parametrize("args, message", [
    (["--set-string", "workspaces.kubernetes.placeholders.enabled=yes"],
     "at '/workspaces/kubernetes/placeholders/enabled': got string, want boolean"),
    (["--set", "workspaces.kubernetes.placeholders.interval=0"], "at '/workspaces/kubernetes/placeholders/interval'"),
    (["--set", "workspaces.kubernetes.placeholders.namespace=x"],
     "at '/workspaces/kubernetes/placeholders': additional properties 'namespace' not allowed"),
], ids=["not a boolean", "no interval", "the namespace, which the chart sets"])
def test_the_schema_refuses_bad_placeholder_values(args, message):
    done = helm("template", "ws", str(CHART), *args)
    assert done.returncode != 0
    assert message in done.stderr
