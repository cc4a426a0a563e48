"""The exact Kubernetes names of a workspace, pinned: a changed name orphans the PVC of every workspace it names.

Names that begin with an escaped character ('-alice', 'ü', an upper-case server
name) used to give label values and template namespaces that begin with '-',
which the API server refuses; those, and only those, now begin with 'x--'.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workspaces.config import KubernetesSettings
from workspaces.naming import (
    is_dns_label,
    is_dns_subdomain,
    is_label_value,
    is_qualified_name,
    label_value,
    object_name,
    template_namespace,
)
from workspaces.spec import VolumeMount, WorkspaceSpec

LONG = "x" * 100

# user, server -> pod/PVC/Service name (unchanged: every one was already valid)
OBJECT_NAMES = [
    ("alice", "train", "ws-alice--train"),
    ("alice", "", "ws-alice"),
    ("alice@example.com", "train", "ws-alice-40example-2ecom--train"),
    ("ü", "train", "ws--c3-bc--train"),
    ("-alice", "", "ws--2dalice"),
    ("alice", "Train", "ws-alice---54rain"),
    (LONG, "train", "ws-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-h8ccdca75b6"),
]

# value -> label value
LABEL_VALUES = [
    ("alice", "alice"),  # unchanged from here ...
    ("alice@example.com", "alice-40example-2ecom"),
    ("alice-", "alice-2d"),
    ("a..b", "a-2e-2eb"),
    (LONG, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-hb2422ebfc5"),
    ("-alice", "x--2dalice"),  # ... the ones that were refused
    ("ü", "x--c3-bc"),
    ("日本", "x--e6-97-a5-e6-9c-ac"),
    ("_x_", "x--5fx-5f"),
    ("Train", "x--54rain"),
]

# template, user -> namespace
NAMESPACES = [
    ("ws-{username}", "alice", "ws-alice"),  # unchanged from here ...
    ("ws-{username}", "-alice", "ws--2dalice"),
    ("{username}-ws", "alice@example.com", "alice-40example-2ecom-ws"),
    ("{username}-ws", LONG, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-hb2422ebfc5-ws"),
    ("{username}-ws", "-alice", "x--2dalice-ws"),  # ... the ones that were refused
    ("{username}-ws", "ü", "x--c3-bc-ws"),
]


@pytest.mark.parametrize("user, server, expected", OBJECT_NAMES)
def test_object_names_are_pinned(user, server, expected):
    assert object_name(user, server) == expected


@pytest.mark.parametrize("value, expected", LABEL_VALUES)
def test_label_values_are_pinned(value, expected):
    assert label_value(value) == expected


@pytest.mark.parametrize("template, user, expected", NAMESPACES)
def test_template_namespaces_are_pinned(template, user, expected):
    assert template_namespace(template, user) == expected


def test_a_name_that_begins_with_an_escape_never_meets_another_names_label():
    # 'x-2dalice' is the label of 'x-alice'; the lead makes '-alice' 'x--2dalice'
    assert label_value("-alice") != label_value("x-alice") == "x-2dalice"


@pytest.mark.parametrize(
    "predicate, valid, invalid",
    [
        (is_dns_label, ["a", "ws-a-1", "0" * 63], ["", "-a", "a-", "A", "a.b", "a_b", "a\n", "a" * 64]),
        (is_dns_subdomain, ["a", "a.b-c", "a" * 253], ["", ".a", "a.", "a..b", "A", "a\n", "a" * 254]),
        (is_label_value, ["", "a", "A.b_c-D", "a" * 63], ["-a", "a-", ".a", "_a", "a b", "a" * 64]),
        (is_qualified_name, ["a", "example.com/a", "app.kubernetes.io/managed-by"], ["", "/a", "a/", "a/b/c", "Ex.com/a", "a/-b"]),
    ],
)
def test_the_kubernetes_name_checks_accept_and_refuse_what_the_api_server_does(predicate, valid, invalid):
    assert [v for v in valid if not predicate(v)] == []
    assert [v for v in invalid if predicate(v)] == []


@pytest.mark.parametrize(
    "model, field, value",
    [(WorkspaceSpec, "namespace", "team\n"), (VolumeMount, "claim", "datasets\n"), (KubernetesSettings, "namespace", "ws\n")],
)
def test_a_name_kubernetes_would_refuse_is_refused_when_it_is_written(model, field, value):
    # a trailing newline passed the old '^...$' checks; the API server refuses it
    other = {"mount_path": "/data"} if model is VolumeMount else {}
    with pytest.raises(ValidationError):
        model.model_validate({field: value, **other})
