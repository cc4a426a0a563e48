"""Shared fixtures: real hubs on loopback, artifacts folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support.hub import Hub

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The shared hub: local backend, test catalog, no GPUs."""
    h = Hub(tmp_path_factory.mktemp("hub"))
    try:
        yield h.start()
    finally:
        h.shutdown()
