// Budgets: the person's own (above their list), and everyone's use for admins (#/usage).

import { api } from "./api.js";
import { h, replace } from "./dom.js";

const LIMITS = [["gpus", "GPUs"], ["workspaces", "Running workspaces"], ["storage", "Storage"]];

// "Your budget: 1 of 2 GPUs in use · 1 of 2 running workspaces in use"; nothing
// when no limit applies to the person.
export function budgetLine(budget) {
  const limited = LIMITS.filter(([kind]) => budget?.[kind]?.limit !== null && budget?.[kind] !== undefined);
  if (!limited.length) return null;
  const full = limited.some(([kind]) => budget[kind].in_use >= budget[kind].limit);
  return h("p", { class: `budget${full ? " full" : ""}`, "aria-label": "Your budget" },
    h("strong", {}, "Your budget: "),
    limited.map(([kind], i) => [i ? " · " : null, h("span", { dataset: { limit: kind } }, budget[kind].text)]));
}

// The person's budget, fresh (it changes with every start and stop), into ``box``.
export async function showBudget(box, signal) {
  const info = await api("GET", "info", { signal });
  replace(box, budgetLine(info.budget));
}

function figure(value, storage) {
  if (value === null || value === undefined) return "no limit";
  if (!storage) return String(value);
  for (const [unit, size] of [["Ti", 2 ** 40], ["Gi", 2 ** 30], ["Mi", 2 ** 20]]) {
    if (value >= size) return `${Math.round((value / size) * 10) / 10}${unit}`;
  }
  return `${value}`;
}

export async function renderUsage(main, { signal }) {
  const usage = await api("GET", "usage", { signal });
  const kinds = LIMITS.filter(([kind]) => kind !== "storage" || usage.storage_counted);
  const users = h("table", {},
    h("caption", {}, "Per user: in use, and the budget that applies"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "User"), h("th", { scope: "col" }, "Groups"),
      kinds.map(([, label]) => h("th", { scope: "col" }, label)))),
    h("tbody", {}, usage.users.map((u) => h("tr", { dataset: { user: u.name } },
      h("th", { scope: "row" }, u.name),
      h("td", {}, u.groups.join(", ") || h("span", { class: "muted" }, "—")),
      kinds.map(([kind]) => h("td", { class: u.budget[kind].limit !== null && u.budget[kind].in_use >= u.budget[kind].limit ? "full" : null },
        u.budget[kind].text,
        u.budget[kind].source === "none" ? null : h("span", { class: "muted source" }, ` (${u.budget[kind].source})`)))))));
  const groups = usage.groups.length
    ? h("table", {},
      h("caption", {}, "Per group: what the members hold together, and the limit the group sets for each member"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Group"), h("th", { scope: "col" }, "Members"),
        kinds.map(([, label]) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, usage.groups.map((g) => h("tr", { dataset: { group: g.name } },
        h("th", { scope: "row" }, g.name),
        h("td", {}, String(g.members)),
        kinds.map(([kind]) => h("td", {},
          `${figure(g.in_use[kind], kind === "storage")} in use`,
          h("span", { class: "muted" }, g.member_limits[kind] === null ? " (sets no limit)"
            : ` (each: ${figure(g.member_limits[kind], kind === "storage")})`)))))))
    : h("p", { class: "empty" }, "No groups.");
  replace(main, h("h1", {}, "Use and budgets"),
    h("h2", {}, "Users"), h("div", { class: "table-wrap" }, users),
    h("h2", {}, "Groups"), h("div", { class: "table-wrap" }, groups));
}
