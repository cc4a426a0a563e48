"""Budgets: the quotas model, how entries combine, what a user holds, and the refusal's words."""

import pytest
from pydantic import ValidationError

from workspaces.budgets import Budget, Demand, Limit, Use, budget_for, demand, describe, refusal, server_use, use_of
from workspaces.catalog import Catalog, ImageEntry, Profile
from workspaces.config import QuotaSettings, WorkspacesConfig
from workspaces.errors import issues_from_pydantic

GI = 2**30
CATALOG = Catalog(
    images=(ImageEntry(id="lab", display_name="Lab", image="x"),),
    profiles=(Profile(id="small", display_name="S"), Profile(id="gpu-2", display_name="G", gpu={"count": 2})),
)
QUOTAS = QuotaSettings.model_validate({
    "default": {"gpus": 1, "workspaces": 2},
    "groups": {"ml": {"gpus": 4}, "vision": {"gpus": 2, "workspaces": 5}, "free": {"gpus": None}, "tight": {"gpus": 0}},
    "users": {"ada": {"gpus": 0}, "bob": {"workspaces": None}},
})


def config_issues(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        WorkspacesConfig.model_validate(data)
    return [str(i) for i in issues_from_pydantic(info.value, WorkspacesConfig)]


# -- the model -------------------------------------------------------------------------------------


def test_an_unknown_limit_is_named():
    assert config_issues({"quotas": {"groups": {"ml": {"gpu": 2}}}}) == ["quotas.groups.ml.gpu: unknown key"]


def test_a_negative_limit_is_refused():
    assert config_issues({"quotas": {"default": {"gpus": -1}}}) == ["quotas.default.gpus: must be >= 0"]


def test_a_storage_budget_needs_a_size():
    issues = config_issues({"backend": "kubernetes", "quotas": {"default": {"storage": "lots"}}})
    assert len(issues) == 1 and issues[0].startswith("quotas.default.storage: must be a memory size such as")


def test_a_storage_budget_is_refused_on_the_local_backend():
    assert config_issues({"quotas": {"users": {"ada": {"storage": "10Gi"}}}}) == [
        "quotas.users.ada.storage applies to backend kubernetes only (local folders have no size)"
    ]


# -- combining -------------------------------------------------------------------------------------


def test_without_quotas_nothing_is_limited():
    budget = budget_for(QuotaSettings(), "ada", ["ml"])
    assert budget == Budget(Limit(None, "none"), Limit(None, "none"), Limit(None, "none"))


def test_the_default_applies_to_everyone():
    assert budget_for(QUOTAS, "cy", []).gpus == Limit(1, "default")


def test_a_group_raises_the_default():
    assert budget_for(QUOTAS, "cy", ["ml"]).gpus == Limit(4, "group ml")


def test_a_group_lowers_the_default():
    assert budget_for(QUOTAS, "cy", ["tight"]).gpus == Limit(0, "group tight")


def test_of_several_groups_the_most_generous_wins_each_limit():
    budget = budget_for(QUOTAS, "cy", ["ml", "vision", "tight"])
    assert (budget.gpus, budget.workspaces) == (Limit(4, "group ml"), Limit(5, "group vision"))


def test_a_group_that_sets_no_limit_beats_every_number():
    assert budget_for(QUOTAS, "cy", ["ml", "free"]).gpus == Limit(None, "group free")


def test_a_limit_no_group_sets_comes_from_the_default():
    assert budget_for(QUOTAS, "cy", ["ml"]).workspaces == Limit(2, "default")


def test_the_users_own_entry_wins_over_groups():
    assert budget_for(QUOTAS, "ada", ["ml"]).gpus == Limit(0, "user ada")


def test_a_user_entry_may_lift_one_limit_and_leave_the_others():
    budget = budget_for(QUOTAS, "bob", ["ml"])
    assert (budget.workspaces, budget.gpus) == (Limit(None, "user bob"), Limit(4, "group ml"))


# -- use ---------------------------------------------------------------------------------------


def test_a_workspace_asks_the_gpus_its_spec_or_profile_names():
    assert demand({"profile": "gpu-2"}, CATALOG, None) == Demand(2, 0)
    assert demand({"profile": "gpu-2", "gpus": 1}, CATALOG, None) == Demand(1, 0)


def test_a_workspace_without_a_size_holds_the_default_size():
    assert demand({"profile": "small"}, CATALOG, "10Gi") == Demand(0, 10 * GI)
    assert demand({"storage": "25Gi"}, CATALOG, "10Gi") == Demand(0, 25 * GI)


def test_a_record_never_started_holds_nothing():
    # JupyterHub keeps a default server record, without options, for every user
    assert demand({}, CATALOG, "10Gi") == Demand(0, 0)
    assert demand(None, CATALOG, "10Gi") == Demand(0, 0)


def test_stopped_workspaces_hold_their_storage_only():
    held = use_of([(Demand(2, 10 * GI), True), (Demand(1, 5 * GI), False)])
    assert held == Use(gpus=2, workspaces=1, storage=15 * GI)


def test_use_from_the_hubs_model_counts_running_and_starting_servers():
    servers = {
        "a": {"ready": True, "pending": None, "user_options": {"profile": "gpu-2"}},
        "b": {"ready": False, "pending": "spawn", "user_options": {"profile": "small"}},
        "c": {"ready": False, "pending": None, "user_options": {"profile": "gpu-2"}},
    }
    assert server_use(servers, CATALOG, None) == Use(gpus=2, workspaces=2, storage=0)


# -- the refusal -------------------------------------------------------------------------------------


def test_a_start_within_the_budget_is_no_refusal():
    assert refusal(budget_for(QUOTAS, "cy", ["ml"]), Use(gpus=3), Use(gpus=1, workspaces=1)) is None


@pytest.mark.parametrize(
    ("user", "groups", "use", "asked", "message"),
    [
        ("cy", ["vision"], Use(gpus=2, workspaces=1), Use(gpus=1, workspaces=1),
         "GPU budget (group vision): 2 of 2 GPUs in use, 1 more asked"),
        ("cy", [], Use(workspaces=2), Use(workspaces=1),
         "workspace budget (default): 2 of 2 running workspaces in use, 1 more asked"),
        ("ada", [], Use(), Use(gpus=2, workspaces=1),
         "GPU budget (user ada): 0 of 0 GPUs in use, 2 more asked"),
    ],
)
def test_a_refusal_names_the_budget_what_is_in_use_and_what_is_asked(user, groups, use, asked, message):
    assert refusal(budget_for(QUOTAS, user, groups), use, asked) == message


def test_a_storage_refusal_speaks_in_sizes():
    quotas = QuotaSettings.model_validate({"default": {"storage": "50Gi"}})
    message = refusal(budget_for(quotas, "cy", []), Use(storage=40 * GI), Use(storage=20 * GI))
    assert message == "storage budget (default): 40Gi of 50Gi in use, 20Gi more asked"


def test_a_user_already_over_a_lowered_budget_may_still_start_what_asks_nothing_of_it():
    # the admin lowered the GPU budget: a CPU workspace still starts
    assert refusal(budget_for(QUOTAS, "ada", []), Use(gpus=2, workspaces=1), Use(gpus=0, workspaces=1)) is None


def test_the_budget_is_described_in_figures_and_words():
    described = describe(budget_for(QUOTAS, "cy", ["vision"]), Use(gpus=2, workspaces=1))
    assert described["gpus"] == {"limit": 2, "in_use": 2, "source": "group vision", "text": "2 of 2 GPUs in use"}
    assert described["storage"] == {"limit": None, "in_use": 0, "source": "none", "text": "0 in use, no limit"}
