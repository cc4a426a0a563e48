"""The local backend: one jupyter server process per workspace on this machine.

Built on JupyterHub's SimpleLocalProcessSpawner (process start, poll, signals,
state across hub restarts come from there). What this adds:

- the workspace's own folder, ``<data dir>/workspaces/<name>``, as home and
  working directory, named collision-free from ``(user, workspace)``;
- the image's local runtime as the command, the profile's CPU and memory as
  JupyterHub's ``CPU_LIMIT``/``MEM_LIMIT``, and held (:mod:`spawner.limits`);
- whole GPUs leased exclusively and named in ``CUDA_VISIBLE_DEVICES``;
- isolation (``local.isolation``): as root, each hub user's workspaces run as
  that user's own OS account (:mod:`spawner.accounts`), never as root; without
  root, one account runs everything, so only one hub user may have workspaces
  unless the config says ``none``.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import resource
import shutil
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from jupyterhub import orm
from jupyterhub.spawner import SimpleLocalProcessSpawner, set_user_setuid
from jupyterhub.utils import random_port
from tornado import web
from traitlets import Any as AnyTrait
from traitlets import Int, List, Unicode, default

import workspaces
from workspaces.capacity import local_capacity
from workspaces.catalog import Catalog, ImageEntry, Profile, load_catalog
from workspaces.config import LoadedConfig, LocalSettings, WorkspacesConfig
from workspaces.errors import ConfigError
from workspaces.naming import workspace_name
from workspaces.spec import ResolvedSpec

from . import warm
from .accounts import Account, AccountError, blocked_for_others, ensure_account
from .base import WorkspaceSpawnerMixin, WorkspaceSpawnFailed
from .gpus import GpuAllocator, GpuUnavailable, detect_gpus
from .limits import LimitsPlan, WorkspaceCgroups, detect
from .local_envs import EnvBuildFailed, ensure_env, entry_env, is_built, python_of
from .users_env import UsersEnvError, users_python
from .warm import WarmStartFailed

# A Jupyter data folder with this package's JupyterLab extensions (labextensions/...).
LAB_EXTENSIONS_ROOT = Path(workspaces.__file__).parent / "jupyter"
# A Jupyter config folder whose labconfig/page_config.json turns off JupyterLab's
# "Jupyter news" prompt (the images carry the same file, images/labconfig).
LAB_CONFIG_ROOT = Path(workspaces.__file__).parent / "jupyter_config"

# Folder names are escaped to [a-z0-9-]; cap them well below NAME_MAX (255).
MAX_FOLDER_NAME = 200

# One allocator per hub process: GPUs are a machine-wide resource, detected once.
_allocator: GpuAllocator | None = None
# Likewise how limits are held, and the workspaces' cgroups when they are.
_limits: LimitsPlan | None = None
_cgroups: WorkspaceCgroups | None = None

# A workspace's own files are its user's business; the hub's private umask is not passed on.
SERVER_UMASK = 0o022

# Deleting a workspace folder relies on rmtree never following a symlink it finds inside.
assert shutil.rmtree.avoids_symlink_attacks


def limits_plan() -> LimitsPlan:
    global _limits
    if _limits is None:
        _limits = detect()
    return _limits


def workspace_cgroups() -> WorkspaceCgroups | None:
    global _cgroups
    plan = limits_plan()
    if _cgroups is None and plan.cgroup is not None:
        _cgroups = WorkspaceCgroups(plan.cgroup)
    return _cgroups


ISOLATION = {
    "users": "each hub user's workspaces run as that user's own OS account (jupyter-<name>)",
    "single-user": "none possible without root: only one hub user may have workspaces (local.isolation: none allows more)",
    "none": "none (local.isolation: none): every workspace runs as the hub's account and can read the hub's secrets",
}


def startup_lines(settings: WorkspacesConfig) -> list[str]:
    """What the local backend enforces on this machine, for the hub's log at start."""
    local = settings.local
    memory = "" if local.enforce_memory_limit else "; memory not enforced (local.enforce_memory_limit: false)"
    return [
        f"Local workspaces: isolation: {ISOLATION[local.isolation_mode(os.geteuid())]}",
        f"Local workspaces: limits: {limits_plan().describe()}{memory}",
    ]


def machine_gpus(local: LocalSettings, lease_file: Path) -> GpuAllocator:
    """This machine's GPUs, detected once per hub process, their leases published in ``lease_file``.

    The hub's config calls it at start: the API service reads from the file how
    many GPUs are free (GET /profiles) before any workspace has started.
    A machine without GPUs publishes none, so "this machine has 0" is known too.
    """
    global _allocator
    if _allocator is None:
        gpus = detect_gpus(local.nvidia_smi) if local.gpus == "auto" else []
        _allocator = GpuAllocator([g.index for g in gpus], lease_file)
    return _allocator


def workspaces_python(local: LocalSettings) -> str | None:
    """local.python; else, when workspaces run as their users' accounts and cannot run the
    hub's own interpreter, the users' environment (:mod:`spawner.users_env`); else None.

    Raises UsersEnvError when that environment cannot be made.
    """
    if local.python or local.isolation_mode(os.geteuid()) != "users":
        return local.python
    return users_python()


def runtime_argv(image: ImageEntry, local: LocalSettings) -> list[str]:
    """The command that runs ``image``'s server here (its local runtime, with ``python: default`` resolved)."""
    assert image.local is not None  # resolve_spec refuses images without a local runtime
    argv = image.local.argv()
    if image.local.python == "default":
        python = workspaces_python(local)
        if python:
            argv[0] = python
    return argv


def fill_warm_pools_at_start(config: LoadedConfig, catalog_edits: Path, workspaces_root: Path) -> None:
    """Fill the warm pools once the hub runs: the config is loaded in its event loop. Loaded
    anywhere else (tests, tools), it starts no processes."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return

    def fill() -> None:
        try:
            catalog = load_catalog(config, catalog_edits)
        except ConfigError:
            return  # a bad catalog edit: the catalog store says what is wrong; starts go cold
        warmed = fill_warm_pools(catalog, config.settings.local, workspaces_root)
        if warmed:
            logging.getLogger("JupyterHub").info("Local workspaces: warm starts for %s", ", ".join(warmed))

    loop.call_soon(fill)


def fill_warm_pools(catalog: Catalog, local: LocalSettings, workspaces_root: Path) -> list[str]:
    """Start the warm processes of every image with a python runtime, at hub start; the images warmed."""
    warm.remove_stale_sockets(warm_folder(workspaces_root))
    warmed = []
    for image in catalog.images:
        size = warm_pool_size(image, local)
        if image.local is None or image.hidden or not size or image.unavailable_reason("local"):
            continue
        try:
            argv = runtime_argv(image, local)
        except UsersEnvError:
            continue  # said in the log at start; every start fails the same way
        env = entry_env(image, argv[0], _allocator is not None and _allocator.total > 0, workspaces_root)
        if env is not None:
            if not is_built(env[1]):
                continue  # built at the entry's first start, which then fills its pool
            argv[0] = str(python_of(env[1]))
        if warm.is_python_runtime(argv) and may_run_warm(argv[0], local):
            warm.pool_for(image.id, argv[0], size, warm_folder(workspaces_root)).fill()
            warmed.append(image.id)
    return warmed


def may_run_warm(python: str, local: LocalSettings) -> bool:
    """Whether warm processes may run the interpreter ``python``.

    Under isolation they run as root until a start takes one (only root can become the
    workspace's account), so they run only an interpreter the machine's operator chose: the
    hub's own, or the workspaces' (``python: default``: workspaces.yaml's local.python or the
    users' environment). Never one a catalog admin names through the API (an entry's
    local.python or command), nor an entry's own environment, whose packages' .pth files run
    at every interpreter start: as root, that would be a catalog admin's code run as root.
    """
    if local.isolation_mode(os.geteuid()) != "users":
        return True  # a warm process runs as the account its workspaces run as anyway
    try:
        operators = {sys.executable, workspaces_python(local)}
    except UsersEnvError:
        return False
    return python in operators


def warm_pool_size(image: ImageEntry, local: LocalSettings) -> int:
    """How many warm processes ``image`` keeps: its own local.warm_pool, else the hub's."""
    own = image.local.warm_pool if image.local is not None else None
    return (own or local.warm_pool).size


def warm_folder(workspaces_root: Path | str) -> Path:
    """The warm processes' sockets: beside the workspaces, the hub's account's alone."""
    return Path(workspaces_root).parent / "warm"


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

    gpu_lease_file = Unicode(
        config=True,
        help="""Where the GPU leases are written for the culler's GPU-idle signal.

        Default: $WORKSPACES_DATA_DIR/gpu-leases.json, else ./data/gpu-leases.json.
        """,
    )

    @default("gpu_lease_file")
    def _default_gpu_lease_file(self) -> str:
        data_dir = os.environ.get("WORKSPACES_DATA_DIR") or os.path.join(os.getcwd(), "data")
        return os.path.join(data_dir, "gpu-leases.json")

    env_build_timeout = Int(
        900,
        config=True,
        help="""Seconds a start may take beyond start_timeout when it builds its catalog entry's
        environment (catalog key local.requirements or local.environment).

        Only an entry's first start builds (PyTorch with CUDA downloads gigabytes); later starts reuse
        the environment and get start_timeout alone. Example: ``c.LocalWorkspaceSpawner.env_build_timeout = 1800``.
        """,
    )
    entry_env = AnyTrait(None, allow_none=True, help="(recipe, folder) of the entry's own environment, else None.")
    progress_events = List(help="This start's progress beyond JupyterHub's own events: its environment's build.")
    _start_timeout: int | None = None  # start_timeout as configured, before a build's time is added

    gpu_request = Int(0, help="GPUs the current start asks for (from the spec).")
    gpu_indices = List(Int(), help="GPUs leased to the running server.")
    account = AnyTrait(None, allow_none=True, help="The OS account the server runs as (isolation users), else None.")

    # -- where the workspace lives ------------------------------------------

    def workspace_dir(self, server_name: str | None = None, user_name: str | None = None) -> Path:
        """The folder of this workspace (or of ``user_name``'s ``server_name``).

        Never resolved: if the folder is a symlink, what acts on it must see the link, not its target.
        """
        root = Path(self.workspaces_root).resolve()
        name = self.name if server_name is None else server_name
        folder = root / workspace_name(self.user.name if user_name is None else user_name, name, MAX_FOLDER_NAME)
        # The name is [a-z0-9-] by construction; this guards the invariant.
        if folder.parent != root or folder.name in ("", ".", ".."):
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
        try:
            self.cmd = runtime_argv(image, self.workspaces_settings.settings.local)
        except UsersEnvError as e:
            raise WorkspaceSpawnFailed(f"Workspaces cannot start: {e}", reason="isolation", status_code=500) from None
        self._use_entry_env(image)

    def _use_entry_env(self, image: ImageEntry) -> None:
        """Run the entry's own environment (local.requirements), and give a start that builds it the time to."""
        if self._start_timeout is None:
            self._start_timeout = self.start_timeout
        self.start_timeout = self._start_timeout
        try:
            self.entry_env = entry_env(image, self.cmd[0], self.gpu_allocator.total > 0, self.workspaces_root)
        except OSError as e:
            raise WorkspaceSpawnFailed(
                f"Cannot read the environment file of {image.display_name}: {e}", reason="environment", status_code=500
            ) from None
        if self.entry_env is not None:
            env = self.entry_env[1]
            self.cmd[0] = str(python_of(env))
            if not is_built(env):
                self.start_timeout += self.env_build_timeout

    async def form_context(self, profiles: list[Profile]) -> dict[str, Any]:
        allocator = self.gpu_allocator
        in_use = allocator.total - len(allocator.free())
        return {"capacity": {p.id: local_capacity(p.gpu.count, allocator.total, in_use) for p in profiles}}

    # -- GPUs -------------------------------------------------------------------

    @property
    def gpu_allocator(self) -> GpuAllocator:
        return machine_gpus(self.workspaces_settings.settings.local, Path(self.gpu_lease_file))

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
        # Refusals first: a refused start must leave nothing behind.
        isolation = self.workspaces_settings.settings.local.isolation_mode(os.geteuid())
        self.progress_events = []
        if isolation == "single-user":
            self._refuse_a_second_user()
        self.account = await self._account() if isolation == "users" else None
        try:
            self.gpu_indices = self.gpu_allocator.allocate(self.lease_owner, self.gpu_request)
        except GpuUnavailable as e:
            raise web.HTTPError(400 if e.never_possible else 409, str(e)) from None
        if self.gpu_indices:
            self.log.info("Leased GPU(s) %s to %s", self.gpu_indices, self._log_name)
        folder = self.workspace_dir()
        created = False
        try:
            created = self._make_folder(folder)
            if self.account is not None:
                if created or folder.lstat().st_uid != self.account.uid:
                    self.log.info("Giving workspace folder %s to %s", folder, self.account.name)
                    # in a thread: a folder from before isolation may be large
                    await asyncio.to_thread(hand_over, folder, self.account)
                self._check_reachable(folder)
            self.home_dir = str(folder)
            cgroups = workspace_cgroups()
            if cgroups is not None:
                memory = self.mem_limit if self.workspaces_settings.settings.local.enforce_memory_limit else None
                try:
                    cgroups.create(folder.name, memory, self.cpu_limit)
                except OSError as e:
                    raise WorkspaceSpawnFailed(
                        f"Cannot set the workspace's limits in {cgroups.path(folder.name)}: {e.strerror}",
                        reason="limits", status_code=500,
                    ) from None
            built = await self._build_entry_env()
            # JupyterHub's own event, which this spawner's progress() replaces
            self.progress_events.append({"progress": 50, "message": "Spawning server..."})
            address = await self._start_server()
            if built:
                self._fill_warm_pool()
            return address
        except BaseException:
            self._release_gpus()
            self._remove_cgroup()
            if created and not any(folder.iterdir()):
                folder.rmdir()
            raise

    async def _build_entry_env(self) -> bool:
        """Build the entry's environment if this is its first start; whether this start waited for a build."""
        if self.entry_env is None:
            return False
        recipe, env = self.entry_env

        def report(message: str) -> None:
            self.progress_events.append({"progress": 10, "message": message})

        began = time.monotonic()
        try:
            built = await ensure_env(recipe, env, report)
        except EnvBuildFailed as e:
            self.log.warning("Start of %s failed: %s", self._log_name, e)
            raise WorkspaceSpawnFailed(str(e), reason="environment", status_code=500) from None
        if built:
            self.log.info("Environment %s of %s ready after %.1f s", env, self._log_name, time.monotonic() - began)
        return built

    def _fill_warm_pool(self) -> None:
        """An entry's pool starts filling once its environment exists (the hub's start skipped it)."""
        pool = self.warm_pool()
        if pool is not None:
            pool.fill()

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """This start's events after JupyterHub's "Server requested": its environment's build, if any.

        JupyterHub stops reading when the start ends; every reader gets every event.
        """
        seen = 0
        while True:
            events = self.progress_events
            for event in events[seen:]:
                yield event
            seen = len(events)
            await asyncio.sleep(0.2)

    async def _start_server(self) -> tuple[str, int]:
        """Warm when the image's pool has a process ready, else (or when that fails) cold."""
        pool = self.warm_pool()
        process = pool.take() if pool is not None else None
        if process is not None:
            try:
                address = await self._start_warm(process)
                self.log.info("Started %s warm (process %d)", self._log_name, process.proc.pid)
                return address
            except WarmStartFailed as e:
                self.log.warning("Warm start of %s failed, starting cold: %s", self._log_name, e)
                process.kill()
                self.proc, self.pid = None, 0
            finally:
                # after the taken server is up: its replacement's imports must not slow this start
                pool.fill()
        ip, port = await super().start()
        await self._wait_until_serving(ip, port)
        return ip, port

    def warm_pool(self) -> warm.WarmPool | None:
        """The warm processes of this workspace's image, or None: off (size 0), or not a python runtime."""
        image = self.resolved_spec.image if self.resolved_spec is not None else None
        if image is None or not warm.is_python_runtime(self.cmd):
            return None
        if self.shell_cmd or self.popen_kwargs:
            return None  # config that changes how the process starts: only a cold start honours it
        local = self.workspaces_settings.settings.local
        size = warm_pool_size(image, local)
        if size == 0 or not may_run_warm(self.cmd[0], local):
            return None
        return warm.pool_for(image.id, self.cmd[0], size, warm_folder(self.workspaces_root))

    async def _start_warm(self, process: warm.WarmProcess) -> tuple[str, int]:
        """What LocalProcessSpawner.start and make_preexec_fn do, done by a warm process."""
        if self.port == 0:
            self.port = random_port()
        folder = Path(self.home_dir)
        cgroups = workspace_cgroups()
        account = self.account
        request = {
            "argv": [*self.cmd, *self.get_args()],
            "env": self.get_env(),
            "cwd": str(folder),
            "umask": SERVER_UMASK,
            "cgroup_procs": str(cgroups.path(folder.name) / "cgroup.procs") if cgroups is not None else None,
            "rlimit_data": self._rlimit_data(cgroups),
            "uid": account.uid if account is not None else None,
            "gid": account.gid if account is not None else None,
            "groups": os.getgrouplist(account.name, account.gid) if account is not None else [],
        }
        self.proc, self.pid = process.proc, process.proc.pid
        await process.become(request)
        ip, port = self.ip or "127.0.0.1", self.port
        status = await self._wait_until_serving(ip, port, exited=process.proc.poll)
        if status is not None:
            raise WarmStartFailed(f"the server exited with status {status} while starting")
        return ip, port

    def _rlimit_data(self, cgroups: WorkspaceCgroups | None) -> int | None:
        # the cgroup holds the whole workspace; without one, each process gets the limit
        enforce = self.workspaces_settings.settings.local.enforce_memory_limit
        return self.mem_limit if enforce and cgroups is None and self.mem_limit else None

    # -- isolation ----------------------------------------------------------------

    def _refuse_a_second_user(self) -> None:
        """Without root, every workspace runs as the hub's own account: one hub user's only."""
        other = self._another_users_workspace()
        if other is None:
            return
        message = (
            f"Cannot start a workspace of {self.user.name}: the hub runs without root (as {getpass.getuser()}), "
            f"so every workspace would run as that one account and could read every other workspace and the hub's "
            f"secrets, and {other} belongs to another user. An admin can run the hub as root (each user gets an "
            f"OS account of their own), or allow shared workspaces with local.isolation: none in workspaces.yaml."
        )
        self.log.warning("Refused %s: %s has a workspace and there is no isolation", self._log_name, other)
        raise WorkspaceSpawnFailed(message, reason="isolation", status_code=403)

    def _another_users_workspace(self) -> str | None:
        """A workspace of another hub user that is running, starting, or has a folder, as ``user/name``."""
        others = self.user.db.query(orm.Spawner).join(orm.User).filter(orm.User.id != self.user.id)
        for spawner in others:
            if spawner.server is not None or os.path.lexists(self.workspace_dir(spawner.name, spawner.user.name)):
                return f"{spawner.user.name}/{spawner.name}"
        return None

    async def _account(self) -> Account:
        try:
            account = await ensure_account(self.user.name)
        except AccountError as e:
            raise WorkspaceSpawnFailed(f"Cannot start a workspace of {self.user.name}: {e}", reason="account",
                                       status_code=500) from None
        self.log.info("%s runs as OS account %s (uid %d)", self._log_name, account.name, account.uid)
        return account

    def _make_folder(self, folder: Path) -> bool:
        """Make the workspace folder (True), or check that the one there is a folder."""
        try:
            info = folder.lstat()
        except FileNotFoundError:
            info = None
        if info is not None and not stat.S_ISDIR(info.st_mode):
            # e.g. a symlink planted where the folder was: never start in, or hand over, its target
            raise WorkspaceSpawnFailed(
                f"The workspace folder {folder} is not a folder; an admin must move it away",
                reason="folder", status_code=409,
            )
        if info is None:
            folder.mkdir(mode=0o700)
        return info is None

    def _check_reachable(self, folder: Path) -> None:
        """Say why the account could not enter its folder or run its server, rather than fail in the child."""
        program = shutil.which(self.cmd[0]) or self.cmd[0]
        for what, path in (("its workspace folder's parent", folder.parent), ("the server program", program)):
            try:
                blocked = blocked_for_others(path)
            except FileNotFoundError:
                continue  # a missing program: the start fails with exec's own error
            if blocked is not None:
                raise WorkspaceSpawnFailed(
                    f"The OS account {self.account.name} cannot reach {what}, {path}: {blocked} is "
                    f"{stat.filemode(blocked.stat().st_mode)}. Put the data dir and the workspaces' Python "
                    f"(local.python) where every account may pass, e.g. not under /root.",
                    reason="isolation", status_code=500,
                )

    def _remove_cgroup(self) -> None:
        cgroups = workspace_cgroups()
        if cgroups is not None:
            cgroups.remove(self.workspace_dir().name)

    async def _wait_until_serving(self, ip: str, port: int, exited: Callable[[], int | None] | None = None) -> int | None:
        """Fail the start as soon as the server exits, rather than after the
        hub's http_timeout; a server still quiet at that time is the hub's call.

        With ``exited`` (a warm start), its exit status is returned instead: the
        start goes on cold, so this start's GPUs and cgroup must stay (poll would free them).
        """
        deadline = asyncio.get_running_loop().time() + self.http_timeout
        while asyncio.get_running_loop().time() < deadline:
            status = exited() if exited is not None else await self.poll()
            if status is not None and exited is not None:
                return status
            if status is not None:
                raise WorkspaceSpawnFailed(
                    f"the workspace server exited with status {status} while starting; the hub's log has its output",
                    reason="ServerExited",
                    status_code=502,
                )
            try:
                _, writer = await asyncio.open_connection(ip or "127.0.0.1", port)
            except OSError:
                # a warm server listens within a second: a coarser step would be a good part of it
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return None
        return None

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        # Always set: an empty value hides every GPU from a CPU workspace.
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in self.gpu_indices)
        if self.resolved_spec is not None:
            env["WORKSPACE_IMAGE"] = self.resolved_spec.image.id
            env["WORKSPACE_PROFILE"] = self.resolved_spec.profile.id
            # where the kind's program is installed here (code-server: the project's node_modules/.bin)
            env["PATH"] = self.resolved_spec.image.kind_info.local_path(env.get("PATH"))
        if self.entry_env is not None:
            # a terminal's python and pip are the entry's environment's, as its kernels' are
            env["PATH"] = os.pathsep.join(p for p in (str(python_of(self.entry_env[1]).parent), env.get("PATH", "")) if p)
        # The keep-alive's JupyterLab extension, from this package's own copy: an
        # editable install puts nothing in <prefix>/share/jupyter.
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(LAB_EXTENSIONS_ROOT), env.get("JUPYTER_PATH", "")) if p)
        # in front of any JUPYTER_CONFIG_PATH of the hub's, which still applies after it
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            p for p in (str(LAB_CONFIG_ROOT), env.get("JUPYTER_CONFIG_PATH", "")) if p
        )
        return env

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env = super().user_env(env)
        if self.account is not None:
            env["USER"] = env["LOGNAME"] = self.account.name
        return env

    def get_args(self) -> list[str]:
        args = super().get_args()
        # only when the server itself runs as root, which takes isolation: none
        if os.geteuid() == 0 and self.account is None and "--allow-root" not in args:
            args.append("--allow-root")
        return args

    def make_preexec_fn(self, name: str) -> Any:
        home = self.home_dir
        cgroups = workspace_cgroups()
        cgroup_procs = cgroups.path(Path(home).name) / "cgroup.procs" if cgroups is not None else None
        limit = self._rlimit_data(cgroups)
        become = set_user_setuid(self.account.name, chdir=False) if self.account is not None else None

        def preexec() -> None:
            # in the child, before exec: as root still, then never again
            if cgroup_procs is not None:
                cgroup_procs.write_text("0")
            if limit:
                # soft and hard: an account that is not root cannot raise it again
                resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
            os.umask(SERVER_UMASK)
            if become is not None:
                become()
            os.chdir(home)

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
        self._remove_cgroup()

    # -- delete -----------------------------------------------------------------

    async def delete_forever(self) -> None:
        """The workspace is deleted (explicit request): remove its folder.

        A symlink in its place is removed itself, never what it points to (another
        workspace, the data dir), and rmtree never follows one inside the folder.
        """
        folder = self.workspace_dir()
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            self.log.warning("Workspace folder %s of %s is not a folder; removing only it", folder, self._log_name)
            folder.unlink()
        elif folder.exists():
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


def hand_over(folder: Path, account: Account) -> None:
    """Give ``folder`` (mode 0700) and everything in it to ``account``: a new folder, or one from
    before isolation. Never through a symlink, and never a file with other hard links, which
    could be a file from elsewhere (the hub's secrets) linked in while workspaces ran as the hub."""
    os.chown(folder, account.uid, account.gid, follow_symlinks=False)
    os.chmod(folder, 0o700)
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(parent, name)
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) and info.st_nlink > 1:
                continue
            os.chown(path, account.uid, account.gid, follow_symlinks=False)
