// Banners for workspaces that stop soon (the API's cull_warning), with "Keep running".

import { api, ws } from "./api.js";
import { announce, h, replace, time } from "./dom.js";

// box: where the banners go; shown: the list's workspaces; all: the admins' list
// (the owner is named); guarded: the list's wrapper of an action (one request per click, then a refresh).
export function showWarnings(box, shown, { all, guarded }) {
  const warned = shown.filter((w) => w.cull_warning);
  replace(box, warned.map((w) => banner(w, all, guarded)));
}

function banner(w, all, guarded) {
  const label = all ? `${w.owner}/${w.name}` : w.name;
  const warning = w.cull_warning;
  const at = new Date(warning.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (warning.reason === "max_age") {
    return h("div", { class: "cull-warning", role: "status", dataset: { workspace: `${w.owner}/${w.name}` } },
      h("p", {}, h("strong", {}, label), " reaches its maximum age and stops at ", time(warning.at, at),
        " (", time(warning.at), "), busy or not. Save your work."));
  }
  return h("div", { class: "cull-warning", role: "status", dataset: { workspace: `${w.owner}/${w.name}` } },
    h("p", {}, h("strong", {}, label), " is idle and stops at ", time(warning.at, at), " (", time(warning.at), ")."),
    h("button", {
      type: "button",
      class: "primary",
      "aria-label": `Keep ${label} running`,
      onclick: guarded(async () => {
        const kept = await api("POST", `${ws(w.owner, w.name)}/keepalive`);
        announce(`${label} keeps running; it stops at ${new Date(kept.cull_at).toLocaleTimeString()} at the earliest.`);
      }),
    }, "Keep running"));
}
