"""Kubeflow profile namespaces a user may use, read from the stand-in API server."""

from __future__ import annotations

import asyncio

import pytest
import requests
from kubernetes_asyncio.client import ApiClient, Configuration

from workspaces.kubeflow import NamespaceAccess, NamespaceRefused, allowed_namespaces, check_namespace

from ..support.k8s_apiserver import ApiServerThread
from ..support.kubeflow_objects import contributor, profile


@pytest.fixture(scope="module")
def cluster():
    with ApiServerThread() as api:
        def post(path: str, body: dict) -> None:
            assert requests.post(api.url + path, json=body, timeout=10).status_code == 201

        post("/apis/kubeflow.org/v1/profiles", profile("alice", "Alice@example.com"))
        post("/apis/kubeflow.org/v1/profiles", profile("team-ml", "carol@example.com"))
        post("/apis/kubeflow.org/v1/profiles", profile("team-viz", "carol@example.com"))
        post("/apis/kubeflow.org/v1/profiles", profile("team-ro", "carol@example.com"))
        post("/apis/rbac.authorization.k8s.io/v1/namespaces/team-ml/rolebindings", contributor("team-ml", "alice@example.com", "edit"))
        post("/apis/rbac.authorization.k8s.io/v1/namespaces/team-viz/rolebindings", contributor("team-viz", "alice@example.com", "admin"))
        post("/apis/rbac.authorization.k8s.io/v1/namespaces/team-ro/rolebindings", contributor("team-ro", "alice@example.com", "view"))
        # a binding outside any profile namespace grants nothing here
        post("/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings", contributor("kube-system", "alice@example.com", "admin"))
        yield api


def run(cluster, coro_factory):
    async def go():
        config = Configuration(host=cluster.url)
        async with ApiClient(config) as api:
            return await coro_factory(api)

    return asyncio.run(go())


def test_owner_and_contributor_namespaces_are_allowed(cluster):
    allowed = run(cluster, lambda api: allowed_namespaces(api, "alice", "alice@example.com"))
    assert allowed == [
        NamespaceAccess("alice", "owner"),
        NamespaceAccess("team-viz", "admin"),
        NamespaceAccess("team-ml", "edit"),
    ]


def test_view_only_and_non_profile_namespaces_are_not(cluster):
    namespaces = {a.namespace for a in run(cluster, lambda api: allowed_namespaces(api, "alice", "alice@example.com"))}
    assert "team-ro" not in namespaces and "kube-system" not in namespaces


def test_without_a_namespace_the_users_own_profile_is_used(cluster):
    assert run(cluster, lambda api: check_namespace(api, "alice", None, "alice@example.com")) == NamespaceAccess("alice", "owner")


def test_a_contributor_namespace_can_be_named(cluster):
    assert run(cluster, lambda api: check_namespace(api, "alice", "team-ml", "alice@example.com")).role == "edit"


def test_a_namespace_the_user_may_not_use_is_refused_with_the_allowed_list(cluster):
    with pytest.raises(NamespaceRefused) as info:
        run(cluster, lambda api: check_namespace(api, "alice", "team-ro", "alice@example.com"))
    assert str(info.value) == "namespace 'team-ro' is not one you may use; allowed: alice, team-viz, team-ml"


def test_a_user_without_a_profile_is_told_what_to_ask_for(cluster):
    with pytest.raises(NamespaceRefused) as info:
        run(cluster, lambda api: check_namespace(api, "dave", None, "dave@example.com"))
    assert "ask for a Kubeflow profile" in str(info.value)


def test_nothing_is_created_while_checking(cluster):
    objects, requests_before = len(cluster.store.objects), len(cluster.store.requests)
    run(cluster, lambda api: check_namespace(api, "alice", "team-ml", "alice@example.com"))
    assert len(cluster.store.objects) == objects
    assert {m for m, _, _ in cluster.store.requests[requests_before:]} == {"GET"}
