"""The local backend: one jupyter server process per workspace on this machine.

Built on JupyterHub's SimpleLocalProcessSpawner (process start, poll, signals,
state across hub restarts come from there). What this adds:

- the workspace's own folder, ``<data dir>/workspaces/<name>``, as home and
  working directory, named collision-free from ``(user, workspace)``;
- the image's local runtime as the command, the profile's CPU and memory as
  JupyterHub's ``CPU_LIMIT``/``MEM_LIMIT`` (memory also enforced per process
  with ``RLIMIT_DATA``);
- whole GPUs leased exclusively and named in ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from tornado import web
from traitlets import Int, List, Unicode, default

from workspaces.spec import ResolvedSpec

from .base import WorkspaceSpawnerMixin, WorkspaceSpawnFailed
from .gpus import GpuAllocator, GpuUnavailable, detect_gpus
from workspaces.naming import workspace_name

# Folder names are escaped to [a-z0-9-]; cap them well below NAME_MAX (255).
MAX_FOLDER_NAME = 200

# One allocator per hub process: GPUs are a machine-wide resource, detected once.
_allocator: GpuAllocator | None = None


class LocalWorkspaceSpawner(WorkspaceSpawnerMixin, SimpleLocalProcessSpawner):
    """Workspaces as local jupyter server processes (the embedded default)."""

    backend_name = "local"

    workspaces_root = Unicode(
        config=True,
        help="""Folder holding one folder per workspace.

        Default: $WORKSPACES_DATA_DIR/workspaces, else ./data/workspaces.
        """,
    )

    @default("workspaces_root")
    def _default_workspaces_root(self) -> str:
        data_dir = os.environ.get("WORKSPACES_DATA_DIR") or os.path.join(os.getcwd(), "data")
        return os.path.join(data_dir, "workspaces")

    gpu_request = Int(0, help="GPUs the current start asks for (from the spec).")
    gpu_indices = List(Int(), help="GPUs leased to the running server.")

    # -- where the workspace lives ------------------------------------------

    def workspace_dir(self, server_name: str | None = None) -> Path:
        """The folder of this workspace (or of this user's ``server_name``)."""
        root = Path(self.workspaces_root).resolve()
        name = self.name if server_name is None else server_name
        folder = (root / workspace_name(self.user.name, name, MAX_FOLDER_NAME)).resolve()
        # The name is [a-z0-9-] by construction; this guards the invariant.
        if folder.parent != root:
            raise web.HTTPError(400, f"workspace folder {folder} would be outside {root}")
        return folder

    @default("home_dir")
    def _default_home_dir(self) -> str:
        return str(self.workspace_dir())

    # -- the spec -------------------------------------------------------------

    def apply_resolved_spec(self, resolved: ResolvedSpec) -> None:
        profile, image = resolved.profile, resolved.image
        self.cpu_limit = profile.cpu.limit
        self.cpu_guarantee = profile.cpu.guarantee
        self.mem_limit = profile.memory.limit_bytes()
        self.mem_guarantee = profile.memory.guarantee_bytes()
        self.gpu_request = resolved.gpus
        assert image.local is not None  # resolve_spec refuses images without a local runtime
        self.cmd = image.local.argv()

    def form_context(self) -> dict[str, Any]:
        allocator = self.gpu_allocator
        return {"gpus_total": allocator.total, "gpus_free": len(allocator.free())}

    # -- GPUs -------------------------------------------------------------------

    @property
    def gpu_allocator(self) -> GpuAllocator:
        global _allocator
        if _allocator is None:
            local = self.workspaces_settings.settings.local
            gpus = detect_gpus(local.nvidia_smi) if local.gpus == "auto" else []
            _allocator = GpuAllocator([g.index for g in gpus])
        return _allocator

    @property
    def lease_owner(self) -> str:
        return f"{self.user.name}/{self.name}"

    def _release_gpus(self) -> None:
        if self.gpu_indices:
            released = self.gpu_allocator.release(self.lease_owner)
            self.log.info("Released GPU(s) %s of %s", released, self._log_name)
        self.gpu_indices = []

    # -- process ----------------------------------------------------------------

    async def start(self) -> Any:
        if self.resolved_spec is None:
            # apply_user_options was replaced by config: still refuse bad specs
            self.apply_spec(self.user_options)
        # GPUs first: a refused start must leave nothing behind.
        try:
            self.gpu_indices = self.gpu_allocator.allocate(self.lease_owner, self.gpu_request)
        except GpuUnavailable as e:
            raise web.HTTPError(400 if e.never_possible else 409, str(e)) from None
        if self.gpu_indices:
            self.log.info("Leased GPU(s) %s to %s", self.gpu_indices, self._log_name)
        folder = self.workspace_dir()
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home_dir = str(folder)
        try:
            ip, port = await super().start()
            await self._wait_until_serving(ip, port)
            return ip, port
        except BaseException:
            self._release_gpus()
            if created and not any(folder.iterdir()):
                folder.rmdir()
            raise

    async def _wait_until_serving(self, ip: str, port: int) -> None:
        """Fail the start as soon as the server exits, rather than after the
        hub's http_timeout; a server still quiet at that time is the hub's call."""
        deadline = asyncio.get_running_loop().time() + self.http_timeout
        while asyncio.get_running_loop().time() < deadline:
            status = await self.poll()
            if status is not None:
                raise WorkspaceSpawnFailed(
                    f"the workspace server exited with status {status} while starting; the hub's log has its output",
                    reason="ServerExited",
                    status_code=502,
                )
            try:
                _, writer = await asyncio.open_connection(ip or "127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.2)
                continue
            writer.close()
            return

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        # Always set: an empty value hides every GPU from a CPU workspace.
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in self.gpu_indices)
        if self.resolved_spec is not None:
            env["WORKSPACE_IMAGE"] = self.resolved_spec.image.id
            env["WORKSPACE_PROFILE"] = self.resolved_spec.profile.id
        return env

    def get_args(self) -> list[str]:
        args = super().get_args()
        if os.geteuid() == 0 and "--allow-root" not in args:
            args.append("--allow-root")
        return args

    def make_preexec_fn(self, name: str) -> Any:
        prepare = super().make_preexec_fn(name)
        enforce = self.workspaces_settings.settings.local.enforce_memory_limit
        limit = self.mem_limit if enforce else None

        def preexec() -> None:
            prepare()
            if limit:
                # Data memory per process (the server and each kernel it starts).
                resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

        return preexec

    # -- state across hub restarts --------------------------------------------

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.gpu_indices:
            state["gpus"] = list(self.gpu_indices)
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        gpus = state.get("gpus") or []
        if gpus:
            conflicts = self.gpu_allocator.claim(self.lease_owner, gpus)
            if conflicts:
                self.log.warning("%s holds GPU(s) %s that are missing or leased to another workspace", self._log_name, conflicts)
            self.gpu_indices = [i for i in gpus if i not in conflicts]

    def clear_state(self) -> None:
        # Called once the process is known to be gone: stop, crash, or found
        # dead after a hub restart. That is when its GPUs are free again.
        super().clear_state()
        self._release_gpus()

    # -- delete -----------------------------------------------------------------

    async def delete_forever(self) -> None:
        """The workspace is deleted (explicit request): remove its folder."""
        folder = self.workspace_dir()
        if folder.exists():
            self.log.info("Deleting workspace folder %s of %s", folder, self._log_name)
            # in a thread: a large folder must not freeze the hub's event loop
            await asyncio.to_thread(shutil.rmtree, folder)

    async def rename(self, old_name: str, new_name: str) -> None:
        """The workspace is renamed (it is stopped): its folder follows it."""
        old, new = self.workspace_dir(old_name), self.workspace_dir(new_name)
        if new.exists():
            # never merge into, or overwrite, files that are not this workspace's
            raise web.HTTPError(409, f"a folder for {self.user.name}/{new_name} already exists at {new}; move it away first")
        if old.exists():
            self.log.info("Moving workspace folder %s -> %s", old, new)
            old.rename(new)
