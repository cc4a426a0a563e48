"""What every Workspaces spawner shares, whatever the backend.

:class:`WorkspaceSpawnerMixin` turns ``user_options`` into a validated spec
through JupyterHub's ``apply_user_options`` hook (so the REST API and the spawn
form are checked alike), renders the spawn form from the catalog in force, and
stores the normalized spec back as the server's ``user_options``. A backend
class combines it with a JupyterHub spawner and implements
:meth:`apply_resolved_spec`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SpawnException
from tornado import web
from traitlets import Any as AnyTrait
from traitlets import Unicode, default, observe
from traitlets.config import LoggingConfigurable

from workspaces.budgets import Demand, budget_for, demand, refusal, sized_storage, use_of
from workspaces.catalog import Catalog, CatalogStore, Profile
from workspaces.config import LoadedConfig, load_config
from workspaces.culling import WorkspaceFacts, keepalive_args, server_culling_args, verdict
from workspaces.spec import ResolvedSpec, SpecError, resolve_spec

from .form import render_options_form

# One store per config file, shared by every spawner of the hub process, so a
# catalog edit is noticed once and applies to all.
_stores: dict[tuple[str, str], CatalogStore] = {}


class WorkspaceSpawnFailed(SpawnException):
    """A start refused or failed for a reason the user should read as it is."""

    def __init__(self, message: str, *, reason: str, status_code: int):
        super().__init__(message, reason=reason, status_code=status_code)
        self.jupyterhub_message = message  # the hub's progress stream and API show this


class WorkspaceSpawnerMixin(LoggingConfigurable):
    """Spec handling shared by the backends.

    A backend class lists it first and its JupyterHub spawner second, e.g.
    ``class LocalWorkspaceSpawner(WorkspaceSpawnerMixin, SimpleLocalProcessSpawner)``,
    so its defaults for the Spawner hooks win. (A mixin, not a Spawner
    subclass: JupyterHub insists that Spawner subclasses define start, stop
    and poll, which only the backend's spawner does.)
    """

    backend_name = "local"

    workspaces_config = Unicode(
        "",
        config=True,
        help="""Path of workspaces.yaml (catalog, profiles, backend settings).

        Empty: $WORKSPACES_CONFIG, else the built-in defaults (the repository's
        images/catalog.yaml and config/profiles.yaml).
        """,
    )

    catalog_edits = Unicode(
        "",
        config=True,
        help="""Path of catalog-edits.yaml: image changes admins make through the API.

        Empty: none. ``workspaces up`` points it into the data directory.
        """,
    )

    resolved_spec = AnyTrait(None, allow_none=True, help="The validated spec of the current start.")

    # this start has passed the budget check: from then on, the other starts of the user count it
    budget_checked = False
    # the record's options before this start's (see _remember_recorded_options)
    _options_before_start: Any = None

    @observe("handler")
    def _remember_recorded_options(self, change: Any) -> None:
        # User.spawn hands the spawner its request just before it stores the start's options
        # on the record: a start refused before it makes anything puts back what was there
        if change.new is not None and self.orm_spawner is not None:
            self._options_before_start = self.orm_spawner.user_options

    @default("options_form")
    def _default_options_form(self) -> Any:
        return lambda spawner: spawner.render_options_form()

    @default("options_from_form")
    def _default_options_from_form(self) -> Any:
        return spec_from_form

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return lambda spawner, user_options: spawner.apply_spec(user_options)

    # -- configuration ---------------------------------------------------

    @property
    def config_path(self) -> str:
        return self.workspaces_config or os.environ.get("WORKSPACES_CONFIG") or ""

    @property
    def catalog_store(self) -> CatalogStore:
        key = (self.config_path, self.catalog_edits)
        store = _stores.get(key)
        if store is None:
            edits = Path(self.catalog_edits) if self.catalog_edits else None
            store = _stores[key] = CatalogStore(load_config(key[0] or None), log=self.log, edits=edits)
        return store

    @property
    def workspaces_settings(self) -> LoadedConfig:
        return self.catalog_store.config

    @property
    def catalog(self) -> Catalog:
        return self.catalog_store.current()

    def user_groups(self) -> list[str]:
        return [g.name for g in self.user.groups]

    # -- the spec ----------------------------------------------------------

    def resolve(self, user_options: Any) -> ResolvedSpec:
        """Validate user options; a bad spec becomes HTTP 400 naming the field."""
        try:
            return resolve_spec(
                user_options,
                self.catalog,
                groups=self.user_groups(),
                backend=self.backend_name,
                storage=self.workspaces_settings.settings.storage,
            )
        except SpecError as e:
            self.log.info("Refused spec for %s: %s", self._log_name, e)
            raise web.HTTPError(400, e.summary()) from None

    def apply_spec(self, user_options: Any) -> None:
        resolved = self.resolve(user_options)
        if resolved.image.deprecated:
            self.log.warning(
                "%s starts deprecated image %s: %s", self._log_name, resolved.image.id, resolved.image.deprecated.message
            )
        self.check_budget(resolved.user_options())
        self.resolved_spec = resolved
        # Store the explicit spec (defaults filled in): a later start without
        # options, or after a catalog default changed, runs the same thing.
        self.user_options = resolved.user_options()
        if self.orm_spawner is not None:
            self.orm_spawner.user_options = self.user_options
        # where the kind (workspaces/kinds.py) lands: VS Code and RStudio behind jupyter-server-proxy
        self.default_url = resolved.image.kind_info.url
        self.apply_resolved_spec(resolved)

    def apply_resolved_spec(self, resolved: ResolvedSpec) -> None:
        """Backend hook: turn the spec into the spawner's settings."""
        raise NotImplementedError

    def get_env(self) -> dict[str, Any]:
        env = super().get_env()
        if self.resolved_spec is not None:
            # what the kind's server-proxy entry reads (workspaces/kinds.py), and the entry's own additions
            env.update(self.resolved_spec.image.kind_info.env)
        return env

    # -- budgets -------------------------------------------------------------------

    def check_budget(self, options: dict[str, Any]) -> None:
        """Refuse (403) a start that would take the user over a budget (``quotas:``), before anything is made.

        Every start passes here (the hub's REST API and form, the workspaces API,
        the CLI). From the count to the mark nothing awaits, so two starts of one
        user in this hub process are checked one after the other: the second
        counts the first.
        """
        settings = self.workspaces_settings.settings
        catalog = self.catalog
        default_storage = sized_storage(settings)
        held: list[tuple[Demand, bool]] = []
        for name, record in self.user.orm_user.orm_spawners.items():
            if name == self.name:
                continue
            # dict.get: the user's spawner dict makes a spawner for a name it lacks
            other = dict.get(self.user.spawners, name)
            # a start that has not passed its own check yet will count this one when it does
            running = bool(other and other.active and (other.pending != "spawn" or other.budget_checked))
            held.append((demand(other.user_options if running else record.user_options, catalog, default_storage), running))
        asked = demand(options, catalog, default_storage)
        if self.holds_its_volume():
            # its volume is reused as it is: a restart adds no storage, as a CPU start adds no GPU
            asked = Demand(asked.gpus, 0)
        budget = budget_for(settings.quotas, self.user.name, self.user_groups())
        message = refusal(budget, use_of(held), use_of([(asked, True)]))
        if message is not None:
            self.log.info("Refused the start of %s: %s", self._log_name, message)
            self.undo_recorded_options()
            raise WorkspaceSpawnFailed(message, reason="budget", status_code=403)
        self.budget_checked = True

    def undo_recorded_options(self) -> None:
        """Put back the record's options from before this start: a start refused before it made
        anything leaves no trace, neither a changed spec nor a size the storage budget would count."""
        if self.orm_spawner is not None:
            self.orm_spawner.user_options = self._options_before_start
            self.user_options = self._options_before_start or {}

    def holds_its_volume(self) -> bool:
        """Backend hook: this workspace's volume exists already, so its start makes no new storage."""
        return False

    def clear_state(self) -> None:
        super().clear_state()
        self.budget_checked = False  # stopped: the next start is checked afresh

    # -- idle culling --------------------------------------------------------

    def get_args(self) -> list[str]:
        return [*super().get_args(), *self.culling_args()]

    @default("server_token_scopes")
    def _default_server_token_scopes(self) -> list[str]:
        # JupyterHub's server role, and reading its own model: the keep-alive
        # extension (workspaces.keepalive_server) pulls keep-alives from the hub
        # with the server's own token, never anyone else's.
        return ["users:activity!user", "access:servers!server", "read:servers!server"]

    def culling_args(self) -> list[str]:
        """The server's own idle culling, from the culling rule that applies to this start.

        The server stops itself: only it can see a busy kernel, and nothing that
        can reach every server (the culler's token) is ever sent to one.
        """
        policy = self.workspaces_settings.settings.culling
        user = {"name": self.user.name, "groups": self.user_groups()}
        facts = WorkspaceFacts.of(user, {"user_options": self.user_options}, self.catalog)
        v = verdict(policy, facts)
        return server_culling_args(policy, v) + keepalive_args(policy, v)

    # -- the spawn form ----------------------------------------------------

    async def form_context(self, profiles: list[Profile]) -> dict[str, Any]:
        """Backend hook: extra values for the form template; ``capacity``: profile id -> Capacity
        (workspaces.capacity), whether each of ``profiles`` can start now."""
        return {}

    async def render_options_form(self) -> str:
        previous = (self.orm_spawner.user_options or {}) if self.orm_spawner is not None else {}
        groups = self.user_groups()
        context = await self.form_context(self.catalog.profiles_for(groups))
        return render_options_form(self.catalog, groups, self.backend_name, previous, **context)


def spec_from_form(formdata: dict[str, list[str]]) -> dict[str, Any]:
    """The spawn form's fields (lists of strings) as a spec."""
    spec: dict[str, Any] = {}
    for key in ("image", "profile"):
        values = formdata.get(key)
        if values and values[0]:
            spec[key] = values[0]
    gpus = formdata.get("gpus")
    if gpus and gpus[0].strip():
        try:
            spec["gpus"] = int(gpus[0])
        except ValueError:
            raise web.HTTPError(400, "Invalid workspace spec: gpus: must be a whole number") from None
    return spec
