"""For every user and workspace name JupyterHub accepts, the real API server accepts every object written.

The server is the authority: each object a workspace would write (pod, PVC,
Service, and the namespace a template gives) is sent to it with server-side
dry run, which runs validation and admission, Pod Security ``restricted``
included, and stores nothing. Names come from :mod:`tests.k8s.names`:
emails, non-ASCII, leading and trailing punctuation, 100+ characters.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings

from workspaces.naming import template_namespace

from ..support.cluster import KubeError
from .conftest import RESTRICTED
from .kube import workspace_objects, write_config
from .names import names, user_names, with_tricky_names

SPEC = {"image": "lab", "profile": "small", "volumes": [{"claim": "datasets", "mount_path": "/data"}]}
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=40)


@pytest.fixture(scope="module")
def names_namespace(cluster) -> str:
    name = cluster.namespace("names", labels=RESTRICTED)
    yield name
    cluster.delete_namespace(name)


@pytest.fixture(scope="module")
def names_config(tmp_path_factory, names_namespace) -> Path:
    # istio: the Service and the sidecar annotations are written too
    return write_config(tmp_path_factory.mktemp("names"), namespace=names_namespace, istio=True)


def refused_by_the_server(cluster, objects: dict[str, dict]) -> dict[str, str]:
    found = {}
    for plural, obj in objects.items():
        try:
            cluster.admin.request("POST", f"/api/v1/namespaces/{obj['metadata']['namespace']}/{plural}", obj,
                                  params={"dryRun": "All"})
        except KubeError as e:
            found[plural] = str(e)
    return found


@PROPERTY
@given(names())
@with_tricky_names
def test_the_server_accepts_the_pod_claim_and_service_of_any_workspace(cluster, names_config, names_namespace, pair):
    user, server = pair
    objects = workspace_objects(names_config, SPEC, user=user, server=server)
    for obj in objects.values():
        obj["metadata"]["namespace"] = names_namespace
    assert refused_by_the_server(cluster, objects) == {}


@PROPERTY
@given(user=user_names())
@example(user="-alice")
@example(user="alice@example.com")
@example(user="ü" * 120)
def test_the_server_accepts_the_namespace_a_template_gives_any_user(cluster, user):
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": template_namespace("ws-{username}", user)}}
    cluster.admin.request("POST", "/api/v1/namespaces", namespace, params={"dryRun": "All"})
