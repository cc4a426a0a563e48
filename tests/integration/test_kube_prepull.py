"""A catalog edit through a running hub's workspaces API changes the pre-pull DaemonSets, on the real control plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.cluster_fixture import Cluster
from ..support.hub import Hub, wait_for
from ..support.prepull import daemon_sets, prepull_hub, pulled

pytestmark = pytest.mark.hub

IMAGE = {"id": "extra", "display_name": "Extra", "image": "example.org/prepull-extra:1"}


@pytest.fixture(scope="module")
def hub(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    h = prepull_hub(cluster, tmp_path_factory.mktemp("prepull-hub"), interval=0.5)
    try:
        yield h.start()
    finally:
        h.shutdown()
        # what the hub made goes with it: the next hub of this namespace starts clean
        for d in daemon_sets(cluster):
            cluster.admin.delete("daemonsets", d["metadata"]["name"], d["metadata"]["namespace"])


def test_an_image_added_and_removed_through_the_api_is_pulled_and_then_no_longer(hub, cluster):
    wait_for(lambda: "quay.io/jupyter/minimal-notebook:2025-10-20" in pulled(cluster), 30, "the catalog's images pulled")
    assert hub.ws("POST", "/images", json=IMAGE).status_code == 201
    wait_for(lambda: IMAGE["image"] in pulled(cluster), 30, "the added image in a pre-pull DaemonSet")
    assert hub.ws("DELETE", "/images/extra").status_code == 204
    wait_for(lambda: IMAGE["image"] not in pulled(cluster), 30, "the removed image gone from the DaemonSets")
    assert "Pre-pull DaemonSet workspaces/prepull-" in hub.log()
