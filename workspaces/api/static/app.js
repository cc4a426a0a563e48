// The dashboard's router: one view at a time, chosen by the URL's hash, so the
// page works with back and forward and every view has a link.

import { ApiError, getInfo } from "./api.js";
import { renderUsage } from "./budget.js";
import { renderCatalog } from "./catalog.js";
import { h, replace } from "./dom.js";
import { renderForm } from "./form.js";
import { renderList } from "./list.js";
import { renderProgress } from "./progress.js";

const main = document.getElementById("main");
let current = null;

const ROUTES = [
  [/^\/?$/, "list", "My workspaces", ({ signal }) => renderList(main, { signal })],
  [/^\/all$/, "all", "All workspaces", ({ signal }) => renderList(main, { all: true, signal })],
  [/^\/new$/, "new", "New workspace", ({ signal, query }) => renderForm(main, { query, signal })],
  [/^\/edit\/([^/]+)\/([^/]+)$/, "list", "Edit workspace", ({ signal, parts: [owner, name] }) => renderForm(main, { owner, name, signal })],
  [/^\/progress\/([^/]+)\/([^/]+)$/, "list", "Starting", ({ signal, parts: [owner, name] }) => renderProgress(main, { owner, name, signal })],
  [/^\/catalog$/, "catalog", "Image catalog", ({ signal }) => renderCatalog(main, { signal })],
  [/^\/usage$/, "usage", "Use and budgets", ({ signal }) => renderUsage(main, { signal })],
];

// The route the hash names, its path parts decoded once; null when none does,
// or when a part does not decode (a mangled link).
function match(hash) {
  const [path, search = ""] = hash.replace(/^#/, "").split("?");
  for (const [re, nav, title, render] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    try {
      return { nav, title, render, parts: m.slice(1).map(decodeURIComponent), query: new URLSearchParams(search) };
    } catch {
      return null; // URIError
    }
  }
  return null;
}

// After a route change, focus goes to the new view's heading once it is shown
// (a view may keep working long after, like a start's progress), so that a
// screen reader says where the person is and Tab starts from there.
let focusPending = false;
new MutationObserver(() => {
  const heading = main.querySelector("h1");
  if (!focusPending || !heading) return;
  focusPending = false;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}).observe(main, { childList: true });

async function route(event) {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  focusPending = Boolean(event); // a hashchange: not the first load, where the page starts at its top
  const found = match(location.hash);
  document.querySelectorAll("[data-route]").forEach((a) => a.removeAttribute("aria-current"));
  if (!found) {
    document.title = "Not found · Workspaces";
    replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to my workspaces")));
    return;
  }
  const { nav, title, render, parts, query } = found;
  document.querySelector(`[data-route="${nav}"]`)?.setAttribute("aria-current", "page");
  document.title = `${title} · Workspaces`;
  try {
    await render({ signal: controller.signal, parts, query });
  } catch (e) {
    if (controller.signal.aborted) return;
    replace(main, h("h1", {}, title), h("div", { class: "error", role: "alert" },
      h("p", {}, e instanceof ApiError ? e.message : `Something went wrong: ${e}`)),
      h("p", {}, h("a", { href: "#/" }, "Back to my workspaces")));
  }
}

async function start() {
  const info = await getInfo();
  for (const li of document.querySelectorAll("[data-needs]")) li.hidden = !info.caller[li.dataset.needs];
  window.addEventListener("hashchange", route);
  await route();
}

start().catch((e) => {
  replace(main, h("div", { class: "error", role: "alert" }, h("p", {}, `The dashboard could not load: ${e.message ?? e}`)));
});
