"""One cull pass: page through ready servers, explain each one's state, enforce max_age.

Idle workspaces stop themselves: the spawner configures each server's own
culling from the rule that applies (``workspaces.culling.server_culling_args``),
and only the server can see whether a kernel is busy. The pass never talks to a
server. It stops through the hub API what ``max_age`` says must go, busy or
not, and says of every other workspace which rule applies and how long the hub
has seen it idle; in a dry run, that is what would be stopped.

Decisions are explainable: each says which rule applied, how long the
workspace was idle and why it was kept or stopped, in one log line and in
:attr:`Culler.decisions` (the latest per workspace, so memory follows the
number of workspaces, not the history).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from workspaces.catalog import Catalog
from workspaces.config import CullingPolicy
from workspaces.culling import Verdict, WorkspaceFacts, cull_warning, idle_timeout, iso, parse_time, verdict

from .hub import HubClient
from .metrics import Metrics
from .signals import GpuIdleWatch, GpuWorkspace, Signal

log = logging.getLogger("workspaces.culler")

# The last stop of each workspace is remembered for explanations; the oldest
# are forgotten past this many, so memory does not grow with history.
MAX_CULLED_RECORDS = 10_000

# After asking the hub to stop a server, leave it alone this long while the
# stop completes (the hub answers 202 while it is still stopping).
STOP_SETTLE_S = 120

# Why a workspace idle past its timeout by the hub's figure still runs.
SELF_CULLING = "idle past its timeout by the hub's figure; its server stops itself unless a kernel is busy"

# Why the culler stopped a workspace whose GPUs stayed idle (gpu_idle).
GPU_IDLE = "GPU idle: its GPUs stayed under the rule's gpu_idle threshold, busy kernel or not"


@dataclass
class Decision:
    user: str
    server: str
    action: str  # "stopped", "would stop" (dry run), "kept", "stop failed"
    reason: str
    rule: str
    idle_seconds: float | None
    timeout: float | None
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    gpu: str | None = None  # what the GPU-idle signal saw, under a gpu_idle rule

    def line(self) -> str:
        idle = "unknown" if self.idle_seconds is None else f"{self.idle_seconds:.0f}s"
        limit = "exempt" if self.timeout is None else f"{self.timeout:.0f}s"
        gpu = f"; {self.gpu}" if self.gpu else ""
        return f"{self.action} {self.user}/{self.server}: {self.reason} (rule {self.rule}, idle {idle}, timeout {limit}{gpu})"


@dataclass
class PassReport:
    inspected: int = 0
    stopped: int = 0
    would_stop: int = 0
    requests: int = 0
    seconds: float = 0.0


class Culler:
    def __init__(
        self,
        client: HubClient,
        policy: CullingPolicy,
        catalog: Catalog | None = None,
        metrics: Metrics | None = None,
        gpu_signal: Signal | None = None,
    ):
        self.client = client
        self.policy = policy
        self.catalog = catalog
        self.metrics = metrics or Metrics()
        # sampled once per pass, and only when a rule has gpu_idle
        self.gpu_watch = GpuIdleWatch(gpu_signal, self.metrics) if gpu_signal and policy.gpu_idle_rules else None
        self.decisions: dict[str, Decision] = {}  # running workspaces, from the last pass
        self.culled: OrderedDict[str, Decision] = OrderedDict()  # last stop of each workspace
        self._stop_requested: dict[str, float] = {}
        self._warned: dict[str, datetime] = {}  # the stop time each running workspace was last warned of
        self._running = False

    async def run_pass(self, now: datetime | None = None) -> PassReport | None:
        """One pass; None if the previous one is still running (passes never overlap)."""
        if self._running:
            log.warning("Cull pass skipped: the previous pass is still running")
            return None
        self._running = True
        try:
            return await self._run_pass(now)
        finally:
            self._running = False

    async def _run_pass(self, now: datetime | None) -> PassReport:
        started = time.perf_counter()
        requests_before = self.client.requests
        now = now or datetime.now(timezone.utc)
        report = PassReport()
        seen: set[str] = set()
        semaphore = asyncio.Semaphore(self.policy.concurrency)
        if self.gpu_watch:
            await self.gpu_watch.begin_pass()

        async def one(user: dict[str, Any], name: str, server: dict[str, Any]) -> None:
            async with semaphore:
                decision = await self.decide(user, name, server, now, report)
            self.decisions[f"{user['name']}/{name}"] = decision
            self.metrics.inspected.inc()
            if decision.action != "kept":
                log.info("Culler: %s", decision.line())
            else:
                log.debug("Culler: %s", decision.line())

        async for users in self.client.ready_users(self.policy.page_size):
            tasks = []
            for user in users:
                for name, server in (user.get("servers") or {}).items():
                    if not server.get("ready") or server.get("pending"):
                        continue
                    seen.add(f"{user['name']}/{name}")
                    tasks.append(one(user, name, server))
            await asyncio.gather(*tasks)
            report.inspected += len(tasks)

        if self.gpu_watch:
            self.gpu_watch.end_pass(seen)
        # forget workspaces that are no longer running: memory follows the hub, not history
        for remembered in (self.decisions, self._stop_requested, self._warned):
            for key in list(remembered):
                if key not in seen:
                    del remembered[key]
        report.requests = self.client.requests - requests_before
        report.seconds = time.perf_counter() - started
        self.metrics.pass_duration.observe(report.seconds)
        log.info(
            "Cull pass: %d inspected, %d stopped, %d would stop, %d requests in %.2fs",
            report.inspected, report.stopped, report.would_stop, report.requests, report.seconds,
        )
        return report

    async def decide(
        self, user: dict[str, Any], name: str, server: dict[str, Any], now: datetime, report: PassReport
    ) -> Decision:
        facts = WorkspaceFacts.of(user, server, self.catalog)
        v = verdict(self.policy, facts)
        timeout = idle_timeout(self.policy, v)
        key = f"{user['name']}/{name}"
        gpu_seen: str | None = None  # what the GPU-idle signal said, for every decision after it

        def decision(action: str, reason: str, idle: float | None) -> Decision:
            return Decision(user["name"], name, action, reason, v.rule, idle, timeout, gpu=gpu_seen)

        requested = self._stop_requested.get(key)
        if requested is not None and time.monotonic() - requested < STOP_SETTLE_S:
            return decision("kept", "stop already requested; waiting for the hub to finish it", None)

        if timeout is None:
            return decision("kept", "exempt", None)
        started = parse_time(server.get("started"))
        age = (now - started).total_seconds() if started else None
        if age is not None and self.policy.max_age is not None and age > self.policy.max_age:
            return await self.stop(key, decision("stopped", f"older than max_age ({age:.0f}s)", None), report)

        self.warn(key, v, server, now)
        last = parse_time(server.get("last_activity")) or started
        idle = (now - last).total_seconds() if last else None
        if self.gpu_watch and v.gpu_idle and facts.gpus > 0:
            gpu = self.gpu_watch.check(GpuWorkspace.of(facts, name), v.gpu_idle, now, run=server.get("started"))
            gpu_seen = gpu.describe()
            # like the idle timeout, never sooner than the startup grace after the start
            if gpu.idle and (age is None or age >= self.policy.startup_grace):
                d = await self.stop(key, decision("stopped", GPU_IDLE, idle), report)
                if d.action == "stopped":
                    self.metrics.gpu_idle_culled.labels(rule=d.rule).inc()
                return d
        if idle is None or idle < timeout:
            return decision("kept", "active", idle)
        if self.policy.dry_run:
            report.would_stop += 1
            return decision("would stop", "idle past its timeout by the hub's figure (a busy kernel is not seen)", idle)
        return decision("kept", SELF_CULLING, idle)

    def warn(self, key: str, v: Verdict, server: dict[str, Any], now: datetime) -> None:
        """Log and count a workspace that stops within warn_before, once per stop time
        (a keep-alive makes a new stop time, and so a new warning when it comes near)."""
        warning = cull_warning(self.policy, v, server.get("started"), server.get("last_activity"), now)
        if warning is None or self._warned.get(key) == warning.at:
            return
        self._warned[key] = warning.at
        self.metrics.warned.labels(reason=warning.reason).inc()
        log.info("Culler: warned %s: stops at %s (%s, in %.0fs)", key, iso(warning.at), warning.reason, warning.seconds_left)

    async def stop(self, key: str, d: Decision, report: PassReport) -> Decision:
        if self.policy.dry_run:
            d.action = "would stop"
            report.would_stop += 1
            return d
        try:
            await self.client.stop_server(d.user, d.server)
        except Exception as e:
            d.action = "stop failed"
            d.reason += f"; the hub refused the stop: {type(e).__name__}: {e}"
            return d
        self._stop_requested[key] = time.monotonic()
        self.culled.pop(key, None)
        self.culled[key] = d
        while len(self.culled) > MAX_CULLED_RECORDS:
            self.culled.popitem(last=False)
        report.stopped += 1
        self.metrics.culled.labels(rule=d.rule).inc()
        return d

    def decisions_json(self) -> list[dict[str, Any]]:
        return [asdict(d) for d in sorted(self.decisions.values(), key=lambda d: (d.user, d.server))]

    def culled_json(self) -> list[dict[str, Any]]:
        return [asdict(d) for d in reversed(self.culled.values())]
