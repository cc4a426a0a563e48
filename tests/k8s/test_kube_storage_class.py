"""kubernetes.storage_class: what the workspace's PVC asks the cluster for.

On Kubernetes a claim without storageClassName gets the cluster's default class
(the DefaultStorageClass admission plugin fills it in), while
``storageClassName: ""`` asks for no class at all: only a pre-provisioned volume
without a class can bind it, so on a cluster with dynamic provisioning it stays
Pending for ever.
"""

from __future__ import annotations

from .kube import manifests, write_config

SPEC = {"image": "lab", "profile": "small"}
BETA_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def claim_for(tmp_path, storage_class: str | None) -> dict:
    _, pvc = manifests(write_config(tmp_path, storage_class=storage_class), SPEC)
    return pvc


def test_a_null_storage_class_leaves_the_choice_to_the_clusters_default(tmp_path):
    pvc = claim_for(tmp_path, None)
    assert "storageClassName" not in pvc["spec"]
    assert BETA_ANNOTATION not in pvc["metadata"].get("annotations", {})


def test_a_named_storage_class_is_the_claims_class(tmp_path):
    pvc = claim_for(tmp_path, "fast")
    assert pvc["spec"]["storageClassName"] == "fast"


def test_an_empty_storage_class_asks_for_a_volume_without_a_class(tmp_path):
    # the admin's explicit choice: pre-provisioned volumes only
    pvc = claim_for(tmp_path, "")
    assert pvc["spec"]["storageClassName"] == ""
