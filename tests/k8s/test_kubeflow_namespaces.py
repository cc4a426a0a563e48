"""Kubeflow profile namespaces a user may use, read from the real API server as the hub's ServiceAccount.

The profiles, their namespaces and the contributors' RoleBindings are made as
Kubeflow's profile controller and KFAM make them; names are this module's
own, since the cluster is shared by the session.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from kubernetes_asyncio.config import new_client_from_config_dict

from workspaces.kubeflow import NamespaceAccess, NamespaceRefused, allowed_namespaces, check_namespace

from .kube import Kubeflow, unique


@dataclass
class Profiles:
    """alice's view of the cluster: the names of the namespaces as made for this module."""

    user: str  # her JupyterHub name
    email: str
    own: str
    team_ml: str  # alice may edit
    team_viz: str  # alice is an admin
    team_ro: str  # alice may only view


@pytest.fixture(scope="module")
def profiles(cluster):
    kubeflow = Kubeflow(cluster)
    user = unique("alice")
    email = f"{user}@example.com"
    made = Profiles(
        user, email,
        own=kubeflow.profile("alice", email.capitalize()),  # matched case-insensitively
        team_ml=kubeflow.profile("team-ml", "carol@example.com"),
        team_viz=kubeflow.profile("team-viz", "carol@example.com"),
        team_ro=kubeflow.profile("team-ro", "carol@example.com"),
    )
    kubeflow.contributor(made.team_ml, email, "edit")
    kubeflow.contributor(made.team_viz, email, "admin")
    kubeflow.contributor(made.team_ro, email, "view")
    # a binding outside any profile namespace grants nothing here
    kubeflow.contributor("kube-system", email, "admin")
    yield made
    kubeflow.remove()


def as_hub(cluster, coro_factory):
    """Run ``coro_factory(api)`` with an API client speaking as the hub's ServiceAccount."""

    async def go():
        async with await new_client_from_config_dict(cluster.kubeconfig()) as api:
            return await coro_factory(api)

    return asyncio.run(go())


def test_owner_and_contributor_namespaces_are_allowed(cluster, profiles):
    allowed = as_hub(cluster, lambda api: allowed_namespaces(api, profiles.user, profiles.email))
    assert allowed == [
        NamespaceAccess(profiles.own, "owner"),
        NamespaceAccess(profiles.team_viz, "admin"),
        NamespaceAccess(profiles.team_ml, "edit"),
    ]


def test_view_only_and_non_profile_namespaces_are_not(cluster, profiles):
    namespaces = {a.namespace for a in as_hub(cluster, lambda api: allowed_namespaces(api, profiles.user, profiles.email))}
    assert profiles.team_ro not in namespaces and "kube-system" not in namespaces


def test_without_a_namespace_the_users_own_profile_is_used(cluster, profiles):
    found = as_hub(cluster, lambda api: check_namespace(api, profiles.user, None, profiles.email))
    assert found == NamespaceAccess(profiles.own, "owner")


def test_a_contributor_namespace_can_be_named(cluster, profiles):
    assert as_hub(cluster, lambda api: check_namespace(api, profiles.user, profiles.team_ml, profiles.email)).role == "edit"


def test_a_namespace_the_user_may_not_use_is_refused_with_the_allowed_list(cluster, profiles):
    with pytest.raises(NamespaceRefused) as info:
        as_hub(cluster, lambda api: check_namespace(api, profiles.user, profiles.team_ro, profiles.email))
    assert str(info.value) == (
        f"namespace '{profiles.team_ro}' is not one you may use; allowed: {profiles.own}, {profiles.team_viz}, {profiles.team_ml}"
    )


def test_a_user_without_a_profile_is_told_what_to_ask_for(cluster, profiles):
    dave = unique("dave")
    with pytest.raises(NamespaceRefused) as info:
        as_hub(cluster, lambda api: check_namespace(api, dave, None, f"{dave}@example.com"))
    assert "ask for a Kubeflow profile" in str(info.value)


def test_nothing_is_created_while_checking(cluster, profiles):
    mark = cluster.audit_mark()
    as_hub(cluster, lambda api: check_namespace(api, profiles.user, profiles.team_ml, profiles.email))
    asked = cluster.requests(since=mark)
    assert asked and {m for m, _, _ in asked} == {"GET"}
