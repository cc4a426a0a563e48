"""Local entries as real environments: a virtual environment per catalog entry that names its packages.

An entry with ``local: {requirements: [...]}`` (or ``environment:``, a pip
requirements file) runs in ``<data dir>/envs/<entry id>-<hash>``, built at its
first start and shared by all the entry's workspaces. The hash covers what makes
the environment (the base Python, the requirements or the file's text, the package
index), so a catalog edit builds a new environment beside the one in use rather
than changing it under running kernels.

- Lean: the environment holds what the entry names, and what that needs beyond the
  hub's own packages. JupyterLab, jupyterhub-singleuser and the keep-alive extension
  come from the hub's environment, seen behind the environment's own packages (a
  .pth file, as in the users' environment, :mod:`spawner.users_env`): a build
  installs megabytes of what the entry asks for, not JupyterLab again. Hence it is
  made on the Python ``python: default`` runs.
- Atomic: built in ``envs/.builds/<key>-<random>``, then published by renaming a
  symlink to it into ``envs/<key>`` (a virtual environment cannot move: its scripts
  name their folder). A failed build removes its folder, so ``envs/<key>`` is
  either absent or complete.
- Once: concurrent first starts of an entry share one build and its outcome.
- Read-only to workspaces: owned by the hub's account and closed to others' writes
  whatever the hub's umask, so (with ``local.isolation: users``) no workspace
  account can change what another workspace imports.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workspaces.catalog import ImageEntry

from .users_env import LenderPython, lend_packages

ENVS = "envs"
BUILDS = ".builds"
# The end of pip's output that a failed start shows: pip's own ERROR lines are there.
ERROR_LINES = 4

Report = Callable[[str], None]


class EnvBuildFailed(Exception):
    """The environment could not be built; the message ends with pip's last lines."""


@dataclass(frozen=True)
class EnvRecipe:
    """What one entry's environment is made of, on this machine."""

    entry_id: str
    display_name: str
    python: str  # the interpreter the environment is made from
    requirements: tuple[str, ...] = ()
    requirements_file: str | None = None
    index_url: str | None = None

    def key(self) -> str:
        """``<entry id>-<hash>``: the environment's folder name, new whenever what makes it changes."""
        text = Path(self.requirements_file).read_text() if self.requirements_file else None
        made_of = [os.path.realpath(self.python), list(self.requirements), text, self.index_url]
        return f"{self.entry_id}-{hashlib.sha256(json.dumps(made_of).encode()).hexdigest()[:12]}"

    def pip_args(self) -> list[str]:
        # wheels only: a source package runs its build code, here as the hub's account
        args = ["--only-binary", ":all:"]
        if self.index_url:
            args += ["--index-url", self.index_url]
        if self.requirements_file:
            args += ["-r", self.requirements_file]
        return args + list(self.requirements)

    def announce(self) -> str:
        return f"Building the environment for {self.display_name} (first start only)"


def recipe_for(image: ImageEntry, python: str, nvidia_gpu: bool) -> EnvRecipe | None:
    """``image``'s environment on a machine with or without an NVIDIA GPU; None: it runs ``python`` itself."""
    local = image.local
    if local is None or not local.builds_env():
        return None
    requirements_file = os.path.expanduser(local.environment) if local.environment else None
    return EnvRecipe(
        image.id, image.display_name, python, tuple(local.requirements or ()), requirements_file,
        local.pip_index(nvidia_gpu),
    )


def env_folder(workspaces_root: Path | str) -> Path:
    """Where the environments live: beside the workspaces, in the data dir."""
    return Path(workspaces_root).parent / ENVS


def entry_env(image: ImageEntry, python: str, nvidia_gpu: bool, workspaces_root: Path | str) -> tuple[EnvRecipe, Path] | None:
    """``image``'s environment here, and its folder (built or not); None: it runs ``python`` itself.

    Raises OSError when its requirements file cannot be read.
    """
    recipe = recipe_for(image, python, nvidia_gpu)
    if recipe is None:
        return None
    return recipe, env_folder(workspaces_root) / recipe.key()


def python_of(env: Path) -> Path:
    return env / "bin" / "python"


def is_built(env: Path) -> bool:
    return python_of(env).exists()


@dataclass
class _Build:
    task: asyncio.Future[None] | None = None
    listeners: list[Report] = field(default_factory=list)

    def say(self, message: str) -> None:
        for listener in list(self.listeners):
            listener(message)


# Builds in flight in this hub process, by environment folder.
_builds: dict[Path, _Build] = {}


async def ensure_env(recipe: EnvRecipe, env: Path, report: Report) -> bool:
    """Make ``env`` (``env_folder(...) / recipe.key()``) if it is not there; whether this call waited for a build.

    ``report`` gets the build's progress in words. Raises :class:`EnvBuildFailed`.
    A caller that is cancelled (its start timed out) leaves the build running for the next.
    """
    if is_built(env):
        return False
    build = _builds.get(env)
    if build is None:
        build = _builds[env] = _Build()
        build.task = asyncio.ensure_future(_build(recipe, env, build.say))
        build.task.add_done_callback(lambda _: _builds.pop(env, None))
        # a failure every waiting start has given up on (timed out) is still the outcome: no "never retrieved"
        build.task.add_done_callback(lambda task: task.cancelled() or task.exception())
    else:
        report(f"{recipe.announce()}: another start is building it")
    build.listeners.append(report)
    try:
        await asyncio.shield(build.task)
    finally:
        build.listeners.remove(report)
    return True


async def _build(recipe: EnvRecipe, env: Path, say: Report) -> None:
    builds = env.parent / BUILDS
    for folder in (env.parent, builds):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o711)  # as the data dir: workspace accounts pass through to their environment, without listing
    # a tree walk (an old PyTorch build: gigabytes) off the hub's event loop, as the chmods below
    await asyncio.to_thread(_remove_leftovers, builds, env)
    building = Path(tempfile.mkdtemp(prefix=f"{env.name}-", dir=builds))
    try:
        building.chmod(0o755)
        say(recipe.announce())
        await _run([recipe.python, "-m", "venv", "--without-pip", str(building)], recipe, say=None)
        # the packages of the Python it is made from: the hub's, the users' Python, or local.python
        lend_packages(building, LenderPython.from_output(await _run([recipe.python, "-c", LenderPython.QUERY], recipe, say=None)))
        if recipe.requirements or recipe.requirements_file:
            if recipe.requirements_file:
                check_hubs_own(Path(recipe.requirements_file), recipe)
            await _run(
                [str(python_of(building)), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                 "--progress-bar", "off", *recipe.pip_args()],
                recipe, say=lambda line: _pip_progress(recipe, line, say),
            )
        await asyncio.to_thread(close_to_others, building)
        link = env.with_name(f".{env.name}.{secrets.token_hex(4)}")
        link.symlink_to(building)
        try:
            os.replace(link, env)
        except OSError:
            link.unlink(missing_ok=True)
            raise
    except BaseException as e:
        await asyncio.to_thread(shutil.rmtree, building, ignore_errors=True)
        # the data dir, the Python, what it said of itself: one line for the start, not a traceback
        if isinstance(e, (OSError, ValueError)):
            raise EnvBuildFailed(f"Building the environment for {recipe.display_name} failed: {e}") from None
        raise
    say(f"{recipe.announce()}: done")


def _remove_leftovers(builds: Path, env: Path) -> None:
    """Builds of ``env`` that a previous hub left unfinished (it died mid-build): never published, never used."""
    published = os.path.realpath(env) if env.is_symlink() else None
    for folder in builds.glob(f"{env.name}-*"):
        if str(folder) != published:
            shutil.rmtree(folder, ignore_errors=True)


async def _run(argv: list[str], recipe: EnvRecipe, say: Report | None) -> str:
    """Run ``argv``; its output (stdout and stderr), each line to ``say``. Raises EnvBuildFailed."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
    )
    tail: deque[str] = deque(maxlen=4 * ERROR_LINES)
    output: list[str] = []
    try:
        assert process.stdout is not None
        async for raw in process.stdout:
            output.append(raw.decode(errors="replace"))
            line = output[-1].strip()
            if line:
                tail.append(line)
                if say is not None:
                    say(line)
        status = await process.wait()
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if status != 0:
        # pip says what went wrong on its ERROR lines; other tools' last lines
        errors = [line for line in tail if line.startswith("ERROR")] or list(tail)
        raise EnvBuildFailed(
            f"Building the environment for {recipe.display_name} failed ({os.path.basename(argv[0])} "
            f"{' '.join(argv[1:3])} exited with status {status}): " + " ".join(errors[-ERROR_LINES:])
        )
    return "".join(output)


def _pip_progress(recipe: EnvRecipe, line: str, say: Report) -> None:
    """pip's steps worth a progress event: what it collects, downloads and installs."""
    for prefix, word in (("Collecting ", "collecting"), ("Downloading ", "downloading"),
                         ("Installing collected packages: ", "installing")):
        if line.startswith(prefix):
            say(f"{recipe.announce()}: {word} {line[len(prefix):]} ...")
            return


def check_hubs_own(path: Path, recipe: EnvRecipe) -> None:
    """A requirements file is pip's input as the hub's account (its options too, --no-binary
    among them): only the hub's account, or root, may have written it, or be able to swap it
    (its folder). Raises OSError when it cannot be read."""
    for what, checked in (("requirements file", path), ("requirements file's folder", path.parent)):
        info = checked.stat()
        if info.st_uid not in (0, os.geteuid()) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise EnvBuildFailed(
                f"Building the environment for {recipe.display_name} failed: its {what} {checked} must be "
                f"the hub's own (owned by the hub's account or root, writable by no one else), not "
                f"{stat.filemode(info.st_mode)} of uid {info.st_uid}"
            )


def close_to_others(root: Path) -> None:
    """Readable by every account, writable by the hub's alone, whatever the hub's umask: workspaces
    of other accounts import from here, and one of them must not plant code for the others."""
    for parent, _, files in os.walk(root):
        os.chmod(parent, 0o755)
        for name in files:
            path = os.path.join(parent, name)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode):  # chmod would follow it (bin/python is the system's Python)
                os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)
