// The workspace list: mine, or everyone's for those who may list all users.

import { ApiError, BASE, api, getInfo, webUrl, ws } from "./api.js";
import { announce, confirmDialog, duration, h, relative, replace, time } from "./dom.js";
import { showBudget } from "./budget.js";
import { showWarnings } from "./warnings.js";
import { shareButton, showShared } from "./share.js";

export const STATIC = BASE.replace(/api\/v1\/$/, "static/");
const BUSY = new Set(["pending", "stopping"]);
const STATES = ["pending", "running", "stopping", "stopped", "failed"];

export function kindIcon(kind) {
  const known = ["jupyterlab", "vscode", "rstudio"].includes(kind) ? kind : "jupyterlab";
  return h("img", { class: "kind", src: `${STATIC}kind-${known}.svg`, alt: "", width: 20, height: 20 });
}

export async function renderList(main, { all = false, signal }) {
  const info = await getInfo();
  const [images, profiles] = await Promise.all([api("GET", "images", { signal }), api("GET", "profiles", { signal })]);
  const imageById = new Map(images.items.map((i) => [i.id, i]));
  const profileById = new Map(profiles.items.map((p) => [p.id, p]));

  const filters = all ? filterForm(images.items, profiles.items, () => refresh(true).catch(showError)) : null;
  const status = h("p", { class: "status", role: "status" });
  const budget = all ? null : h("div", { class: "budget-box" }); // the person's own budget and use
  const warnings = h("div", { class: "warnings" }); // workspaces that stop soon, with "Keep running"
  const table = h("div", { class: "table-wrap" });
  const more = h("button", { class: "secondary", hidden: true, onclick: () => load(next, true).catch(showError) }, "Load more");
  const shared = all ? null : h("section", { class: "shared", "aria-label": "Shared with me" }); // others' workspaces shared with me
  replace(main,
    h("div", { class: "title-row" },
      h("h1", {}, all ? "All workspaces" : "My workspaces"),
      h("a", { class: "button primary", href: "#/new" }, "New workspace")),
    budget, warnings, filters, status, table, more, shared);

  let next = null;
  let shown = [];
  let timer = null;
  let lastJSON = "";
  let loads = 0; // only the latest load is shown: an older answer may come last
  // after an action, the hub may take a moment to show its effect (a stop
  // request before "stopping", a stopped server before its removal)
  let quickUntil = 0;

  async function load(cursor, append) {
    // a refresh shows again as many as were shown (pages added with "Load more" included)
    const limit = append ? 100 : Math.min(500, Math.max(100, shown.length));
    const params = new URLSearchParams({ limit: String(limit) });
    if (cursor) params.set("after", cursor);
    if (filters) {
      for (const [key, value] of new FormData(filters)) if (value) params.set(key, value);
    }
    const mine = ++loads;
    const page = await api("GET", `workspaces?${params}`, { signal });
    if (mine !== loads) return;
    next = page.next;
    shown = append ? [...shown, ...page.items] : page.items;
    const json = JSON.stringify(shown);
    if (json !== lastJSON) {
      lastJSON = json;
      draw();
    } else {
      refreshTimes(table);
    }
    more.hidden = !next;
  }

  function draw() {
    const focused = table.contains(document.activeElement) ? document.activeElement : null;
    showWarnings(warnings, shown, { all, guarded });
    if (!shown.length) {
      replace(table, h("p", { class: "empty" }, all ? "No workspaces match." : "You have no workspaces yet. ",
        all ? null : h("a", { href: "#/new" }, "Create one.")));
    } else {
      replace(table, workspaceTable());
    }
    if (focused) refocus(focused);
  }

  // A redraw replaces the controls; a keyboard user stays where they were: on
  // the same control, else on the same row, else on the list's first control.
  function refocus(was) {
    const label = was.getAttribute("aria-label");
    const key = was.closest("tr")?.dataset.workspace;
    const same = [...table.querySelectorAll("[aria-label]")].find((el) => el.getAttribute("aria-label") === label);
    const row = [...table.querySelectorAll("tr")].find((tr) => tr.dataset.workspace === key);
    const target = same ?? row?.querySelector("a, button") ?? table.querySelector("a, button") ?? main.querySelector("h1");
    if (target.matches("h1")) target.tabIndex = -1;
    target.focus({ preventScroll: true });
  }

  function workspaceTable() {
    return h("table", {},
      h("caption", { class: "visually-hidden" }, all ? "Every user's workspaces" : "Your workspaces"),
      h("thead", {}, h("tr", {},
        all ? h("th", { scope: "col" }, "Owner") : null,
        ["Name", "Image", "Profile", "GPUs", "State", "Last activity", "Idle stop", "Actions"].map(
          (c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, shown.map((w) => row(w))));
  }

  function row(w) {
    const image = imageById.get(w.spec.image);
    const profile = profileById.get(w.spec.profile);
    const label = all ? `${w.owner}/${w.name}` : w.name;
    return h("tr", { dataset: { workspace: `${w.owner}/${w.name}`, state: w.state } },
      all ? h("td", { "data-label": "Owner" }, w.owner) : null,
      h("th", { scope: "row", "data-label": "Name" }, w.name),
      h("td", { "data-label": "Image" }, kindIcon(image?.kind), " ", image?.display_name ?? w.spec.image ?? w.spec.custom_image ?? "—",
        image ? h("span", { class: "muted small" }, ` ${image.kind}`) : null),
      h("td", { "data-label": "Profile" }, profile?.display_name ?? w.spec.profile ?? "—"),
      h("td", { "data-label": "GPUs" }, String(w.gpus)),
      h("td", { "data-label": "State" }, stateCell(w)),
      h("td", { "data-label": "Last activity" }, time(w.last_activity)),
      h("td", { "data-label": "Idle stop" }, idleCell(w)),
      h("td", { "data-label": "Actions" }, h("div", { class: "row-actions" }, actions(w, label))));
  }

  function stateCell(w) {
    return [
      h("span", { class: `badge state-${w.state}` }, w.state),
      w.restart_pending ? h("span", { class: "badge pending-restart", title: "The changed spec applies at the next start" }, "restart pending") : null,
      w.image_update ? h("p", { class: "update-available" }, h("span", { class: "badge update" }, "update available"),
        ` ${w.image_update.message} `,
        w.owner === info.caller.name ? h("a", { href: `#/edit/${enc(w.owner)}/${enc(w.name)}`, "aria-label": `Switch ${w.name} to ${w.image_update.display_name}` },
          `Switch to ${w.image_update.display_name}`) : null) : null,
      w.state === "failed" && w.failure_reason ? h("p", { class: "reason" }, w.failure_reason) : null,
    ];
  }

  function idleCell(w) {
    if (w.state !== "running") return h("span", { class: "muted" }, w.idle_timeout === null ? "never" : `after ${duration(w.idle_timeout)} idle`);
    if (!w.cull_at) return h("span", {}, "never");
    return time(w.cull_at);
  }

  function actions(w, label) {
    const mine = w.owner === info.caller.name;
    const buttons = [];
    const url = webUrl(w.url);
    if (w.state === "running" && url && (mine || info.caller.admin)) {
      buttons.push(h("a", { class: "button primary", href: url, "aria-label": `Connect to ${label}` }, "Connect"));
    }
    if (w.state === "pending") buttons.push(h("a", { class: "button", href: `#/progress/${enc(w.owner)}/${enc(w.name)}`, "aria-label": `Progress of ${label}` }, "Progress"));
    // a start can be given up (the hub interrupts it), as a run can be ended
    if (w.state === "running" || w.state === "pending") buttons.push(action("Stop", label, () => stop(w)));
    if (w.state === "stopped" || w.state === "failed") buttons.push(action("Start", label, () => start(w), "primary"));
    if (mine && !BUSY.has(w.state)) buttons.push(h("a", { class: "button", href: `#/edit/${enc(w.owner)}/${enc(w.name)}`, "aria-label": `Edit ${label}` }, "Edit"));
    // where the hub shares workspaces (users isolated from each other): their owners and admins share them
    if ((mine || info.caller.admin) && info.sharing && !info.sharing.refused) buttons.push(shareButton(w, label));
    if (!BUSY.has(w.state)) buttons.push(action("Delete", label, () => remove(w, label), "danger"));
    return buttons;
  }

  function action(text, label, onclick, kind = "") {
    return h("button", { type: "button", class: kind, "aria-label": `${text} ${label}`, onclick: guarded(onclick) }, text);
  }

  // One request per click; the button stays focusable meanwhile (aria-disabled,
  // not disabled, which would drop the focus of a keyboard user, also when a
  // confirmation is cancelled) and usable again after: an action refused, or
  // cancelled, changes nothing that would redraw it.
  function guarded(fn) {
    return async (event) => {
      const button = event.currentTarget;
      if (button.getAttribute("aria-disabled") === "true") return;
      button.setAttribute("aria-disabled", "true");
      quickUntil = Date.now() + 30000;
      try {
        await fn();
      } catch (e) {
        showError(e);
      } finally {
        button.removeAttribute("aria-disabled");
        await refresh(false).catch(showError);
      }
    };
  }

  function showError(e) {
    if (signal.aborted) return;
    status.className = "status error";
    status.textContent = e instanceof ApiError ? e.message : String(e);
  }

  async function start(w) {
    await api("POST", `${ws(w.owner, w.name)}/start`);
    location.hash = `#/progress/${enc(w.owner)}/${enc(w.name)}`;
  }

  async function stop(w) {
    await api("POST", `${ws(w.owner, w.name)}/stop`);
    announce(`Stopping ${w.name}; its storage is kept.`);
  }

  async function remove(w, label) {
    const storage = info.backend === "kubernetes"
      ? "its volume (PersistentVolumeClaim) and every file on it"
      : "its folder and every file in it";
    const ok = await confirmDialog({
      title: `Delete ${label}?`,
      body: [
        `This deletes the workspace ${label} and ${storage}. This cannot be undone.`,
        w.spec.volumes?.length ? "The data volumes it mounts are kept." : null,
      ].filter(Boolean),
      confirm: "Delete forever",
      danger: true,
    });
    if (!ok) return;
    await api("DELETE", ws(w.owner, w.name));
    announce(`Deleted ${label}.`);
  }

  async function refresh(reset) {
    clearTimeout(timer);
    if (signal.aborted) return;
    if (reset) lastJSON = "";
    await Promise.all([load(null, false), budget && showBudget(budget, signal), shared && showShared(shared, signal)]);
    if (signal.aborted) return; // left meanwhile: no more polling
    if (!status.classList.contains("error")) status.textContent = "";
    // poll quickly while something is on its way, slowly otherwise (activity, idle times)
    const busy = shown.some((w) => BUSY.has(w.state)) || Date.now() < quickUntil;
    clearTimeout(timer); // another refresh (an action's) may have set one meanwhile
    timer = setTimeout(() => refresh(false).catch(showError), busy ? 1500 : 30000);
  }

  signal.addEventListener("abort", () => clearTimeout(timer));
  await refresh(true);
}

const enc = encodeURIComponent;

// Relative times ("3 minutes ago") move on while the list stays the same.
function refreshTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) t.textContent = relative(t.dateTime);
}

function filterForm(images, profiles, onChange) {
  let debounce;
  const changed = () => {
    clearTimeout(debounce);
    debounce = setTimeout(onChange, 250);
  };
  const select = (id, name, label, options) => h("div", { class: "field" },
    h("label", { for: id }, label),
    h("select", { id, name, onchange: changed }, h("option", { value: "" }, "Any"),
      options.map(([value, text]) => h("option", { value }, text))));
  return h("form", { class: "filters", role: "search", "aria-label": "Filter workspaces", onsubmit: (e) => e.preventDefault() },
    h("div", { class: "field" }, h("label", { for: "filter-owner" }, "Owner"),
      h("input", { id: "filter-owner", name: "owner", type: "search", autocomplete: "off", oninput: changed })),
    select("filter-state", "state", "State", STATES.map((s) => [s, s])),
    select("filter-image", "image", "Image", images.map((i) => [i.id, i.display_name])),
    select("filter-profile", "profile", "Profile", profiles.map((p) => [p.id, p.display_name])));
}
