"""Every name, label and annotation a workspace writes is one a real API server accepts, for any name JupyterHub accepts.

A label value must begin and end with a letter or digit; object names and
namespaces are DNS-1123 labels. Names come from :mod:`tests.k8s.names`, so
the same property can later run against a real API server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings

from workspaces.naming import is_dns_label, template_namespace

from .kube import workspace_objects, write_config
from .names import names, refusals, user_names, with_tricky_names

SPEC = {"image": "lab", "profile": "small", "volumes": [{"claim": "datasets", "mount_path": "/data"}]}
# deterministic: the same names every run; no example database between runs
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=60)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    # istio: the sidecar annotations too
    return write_config(tmp_path_factory.mktemp("names"), istio=True)


@PROPERTY
@given(names())
@with_tricky_names
def test_the_pod_pvc_and_service_of_any_workspace_are_accepted_by_kubernetes(config_file, pair):
    user, server = pair
    objects = workspace_objects(config_file, SPEC, user=user, server=server)
    found = {kind: refusals(kind, obj) for kind, obj in objects.items()}
    assert found == {kind: [] for kind in objects}


@pytest.mark.parametrize("template", ["ws-{username}", "{username}-ws", "{username}-notebooks-of-the-data-science-team"])
@PROPERTY
@given(user=user_names())
@example(user="-alice")
@example(user="ü" * 40)
def test_every_users_template_namespace_is_a_dns_label(template, user):
    assert is_dns_label(template_namespace(template, user))
