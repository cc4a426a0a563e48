"""What the API remembers about workspaces beyond the hub's records.

JupyterHub keeps a server's spec (``user_options``) and times, but not when a
workspace was created, a spec update waiting for the next start, or why the
last start failed. Those live here, in ``api-state.json`` in the hub's data
directory, written atomically; the service is their only writer.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class ApiState:
    def __init__(self, path: Path | None):
        self.path = path
        self._data: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            self._data = json.loads(path.read_text(encoding="utf-8") or "{}")

    def get(self, owner: str, name: str) -> dict[str, Any]:
        return self._data.get(f"{owner}/{name}", {})

    def update(self, owner: str, name: str, **changes: Any) -> None:
        entry = {**self.get(owner, name), **changes}
        self._data[f"{owner}/{name}"] = {k: v for k, v in entry.items() if v is not None}
        self._save()

    def forget(self, owner: str, name: str) -> None:
        if self._data.pop(f"{owner}/{name}", None) is not None:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".api-state-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._data, f)
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
