"""Image catalog changes made by admins through the API, kept apart from the catalog file.

The catalog file belongs to whoever deploys the hub (on Kubernetes it is a
read-only ConfigMap), so admins' changes live in ``catalog-edits.yaml`` in the
hub's data directory, which survives restarts on both backends: entries added
or replaced (whole, by id) and ids removed. The catalog in force is the file
with these edits applied, validated as one catalog.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .config import read_yaml
from .errors import ConfigError, Issue

HEADER = "# Image catalog changes made through the Workspaces API; the hub re-reads this file on change.\n"


def read_edits(path: Path | None) -> dict[str, Any]:
    """``{"images": [entries], "removed": [ids]}``; a missing file means no edits."""
    if path is None or not path.exists():
        return {"images": [], "removed": []}
    data = read_yaml(path) or {}
    if not isinstance(data, dict) or not isinstance(data.get("images", []), list) or not isinstance(data.get("removed", []), list):
        raise ConfigError([Issue("", "must be a mapping with an images list and a removed list")], source=str(path))
    return {"images": list(data.get("images") or []), "removed": [str(i) for i in data.get("removed") or []]}


def apply_edits(images: list[Any], edits: dict[str, Any]) -> list[Any]:
    """The catalog's raw image entries with the edits applied, in catalog order, new ones last."""
    replaced = {e.get("id"): e for e in edits["images"] if isinstance(e, dict)}
    removed = set(edits["removed"])
    out = []
    for entry in images:
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        if entry_id in removed:
            continue
        out.append(replaced.pop(entry_id, entry))
    out.extend(e for e in replaced.values() if e.get("id") not in removed)
    return out


def write_edits(path: Path, edits: dict[str, Any]) -> None:
    """Replace the edits file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = HEADER + yaml.safe_dump({"images": edits["images"], "removed": sorted(set(edits["removed"]))}, sort_keys=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".catalog-edits-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
