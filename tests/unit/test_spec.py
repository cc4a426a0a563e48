"""Workspace specs: defaults, and a 400-worthy message for every kind of bad input."""

import pytest

from workspaces.catalog import Catalog, ImageEntry, Profile
from workspaces.config import StorageSettings
from workspaces.spec import SpecError, resolve_spec

CATALOG = Catalog(
    images=(
        ImageEntry(id="lab", display_name="Lab", image="x", default=True, local={"python": "default"}),
        ImageEntry(id="cuda", display_name="CUDA", image="x", gpu=True, local={"python": "default"}),
        ImageEntry(id="team", display_name="Team", image="x", groups=["team"], local={"python": "default"}),
        ImageEntry(id="old", display_name="Old", image="x", hidden=True, local={"python": "default"}),
        ImageEntry(id="code", display_name="Code", image="x", kind="vscode"),
    ),
    profiles=(
        Profile(id="small", display_name="Small", default=True),
        Profile(id="gpu", display_name="GPU", gpu={"count": 1, "max": 2}),
        Profile(id="big", display_name="Big", groups=["big"]),
    ),
)


def messages(raw, groups=(), backend="local") -> list[str]:
    with pytest.raises(SpecError) as info:
        resolve_spec(raw, CATALOG, groups, backend, StorageSettings())
    return [str(i) for i in info.value.issues]


def test_empty_spec_gets_the_defaults():
    resolved = resolve_spec({}, CATALOG)
    assert (resolved.image.id, resolved.profile.id, resolved.gpus) == ("lab", "small", 0)


def test_stored_options_are_explicit():
    assert resolve_spec({}, CATALOG).user_options() == {"image": "lab", "profile": "small"}


def test_gpu_profile_gives_its_count():
    assert resolve_spec({"image": "cuda", "profile": "gpu"}, CATALOG).gpus == 1


def test_gpus_override_up_to_the_profile_max():
    assert resolve_spec({"image": "cuda", "profile": "gpu", "gpus": 2}, CATALOG).gpus == 2
    assert messages({"image": "cuda", "profile": "gpu", "gpus": 3}) == ["gpus: must be <= 2 for profile 'gpu'"]


def test_unknown_image_lists_what_is_allowed():
    assert messages({"image": "nope"}) == ["image: unknown image 'nope'; allowed: lab, cuda"]


def test_unknown_profile_lists_what_is_allowed():
    assert messages({"profile": "huge"}) == ["profile: unknown profile 'huge'; allowed: small, gpu"]


def test_group_restricted_image_is_refused_outside_the_group():
    assert messages({"image": "team"}) == ["image: image 'team' is not available to you; allowed: lab, cuda"]
    assert resolve_spec({"image": "team"}, CATALOG, groups=["team"]).image.id == "team"


def test_group_restricted_profile_is_refused_outside_the_group():
    assert messages({"profile": "big"}) == ["profile: profile 'big' is not available to you; allowed: small, gpu"]
    assert resolve_spec({"profile": "big"}, CATALOG, groups=["big"]).profile.id == "big"


def test_hidden_image_still_runs_when_named():
    # hidden = not offered for new workspaces; existing specs keep working
    assert resolve_spec({"image": "old"}, CATALOG).image.id == "old"


def test_image_without_local_runtime_is_refused_on_local_backend():
    [msg] = messages({"image": "code"})
    assert msg.startswith("image: image 'code' cannot run on the local backend: no local runtime")


def test_cpu_image_with_gpu_profile_is_refused():
    [msg] = messages({"image": "lab", "profile": "gpu"})
    assert msg.startswith("image: image 'lab' has no GPU support but the workspace gets 1 GPU(s); GPU images: cuda")


def test_zero_gpus_on_a_gpu_profile_allows_any_image():
    assert resolve_spec({"image": "lab", "profile": "gpu", "gpus": 0}, CATALOG).gpus == 0


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"gpus": "2"}, "gpus: must be an integer, not a string"),
        ({"gpus": 1.5}, "gpus: must be an integer, not a number"),
        ({"gpus": -1}, "gpus: must be >= 0"),
        ({"image": 5}, "image: must be a string, not an integer"),
        ({"volumes": "data"}, "volumes: must be a list, not a string"),
    ],
)
def test_wrong_types_are_refused(raw, expected):
    assert messages(raw) == [expected]


def test_unknown_keys_are_refused_with_the_allowed_keys():
    assert messages({"imagee": "lab"}) == [
        "imagee: unknown key; allowed keys: image, custom_image, profile, gpus, storage, namespace, volumes, pod_defaults"
    ]


def test_spec_must_be_an_object():
    assert messages(["lab"]) == ["the spec must be a JSON object"]


def test_kubernetes_only_fields_are_refused_on_local_backend():
    assert messages({"namespace": "ns", "storage": "5Gi"}) == [
        "storage: not supported by the local backend; remove it",
        "namespace: not supported by the local backend; remove it",
    ]


def test_volumes_and_pod_defaults_are_refused_on_local_backend():
    assert messages({"volumes": [{"claim": "data", "mount_path": "/data"}], "pod_defaults": ["s3"]}) == [
        "volumes: not supported by the local backend; remove it",
        "pod_defaults: not supported by the local backend; remove it",
    ]


def test_kubernetes_names_in_the_spec_must_be_valid_names():
    spec = {"namespace": "Team_A", "volumes": [{"claim": "Data", "mount_path": "/data"}], "pod_defaults": ["S3"]}
    assert messages(spec, backend="kubernetes") == [
        "namespace: 'Team_A' is not a namespace name (lowercase letters, digits and '-', at most 63)",
        "volumes[0].claim: 'Data' is not a Kubernetes object name (lowercase letters, digits, '-' and '.')",
        "pod_defaults[0]: 'S3' is not a Kubernetes object name (lowercase letters, digits, '-' and '.')",
    ]


def test_volume_mount_paths_are_absolute_and_distinct():
    volumes = [{"claim": "a", "mount_path": "data"}, {"claim": "b", "mount_path": "/x"}, {"claim": "c", "mount_path": "/x/"}]
    assert messages({"volumes": volumes}, backend="kubernetes") == [
        "volumes[0].mount_path: must be an absolute path below /, not 'data'",
    ]
    assert messages({"volumes": volumes[1:]}, backend="kubernetes") == ["volumes: two volumes share a mount_path"]


def test_a_pod_default_is_named_once():
    assert messages({"pod_defaults": ["s3", "s3"]}, backend="kubernetes") == ["pod_defaults: names a PodDefault twice"]


def test_storage_is_bounded_on_kubernetes_backend():
    assert messages({"storage": "500Gi", "image": "code"}, backend="kubernetes") == ["storage: must be at most 100Gi"]


def test_several_problems_are_reported_together():
    assert len(messages({"image": "nope", "profile": "huge"})) == 2


def test_error_summary_is_one_line_for_the_api():
    with pytest.raises(SpecError) as info:
        resolve_spec({"image": "nope"}, CATALOG)
    assert str(info.value) == "Invalid workspace spec: image: unknown image 'nope'; allowed: lab, cuda"
