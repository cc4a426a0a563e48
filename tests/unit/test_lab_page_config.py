"""JupyterLab's page config: the local backend's copy and the images' say the same."""

import json
from pathlib import Path

from spawner.local import LAB_CONFIG_ROOT

REPO = Path(__file__).resolve().parents[2]


def test_the_local_servers_and_the_images_turn_off_the_same_plugins():
    local = json.loads((LAB_CONFIG_ROOT / "labconfig" / "page_config.json").read_text())
    images = json.loads((REPO / "images" / "labconfig" / "page_config.json").read_text())
    assert local == images == {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
