// The dashboard's router: one view at a time, chosen by the URL's hash, so the
// page works with back and forward and every view has a link.

import { ApiError, getInfo } from "./api.js";
import { renderCatalog } from "./catalog.js";
import { h, replace } from "./dom.js";
import { renderForm } from "./form.js";
import { renderList } from "./list.js";
import { renderProgress } from "./progress.js";

const main = document.getElementById("main");
let current = null;

const ROUTES = [
  [/^\/?$/, "list", "My workspaces", (signal) => renderList(main, { signal })],
  [/^\/all$/, "all", "All workspaces", (signal) => renderList(main, { all: true, signal })],
  [/^\/new$/, "new", "New workspace", (signal, m, query) => renderForm(main, { query })],
  [/^\/edit\/([^/]+)\/([^/]+)$/, "list", "Edit workspace", (signal, m) => renderForm(main, { owner: m[1], name: m[2] })],
  [/^\/progress\/([^/]+)\/([^/]+)$/, "list", "Starting", (signal, m) => renderProgress(main, { owner: m[1], name: m[2], signal })],
  [/^\/catalog$/, "catalog", "Image catalog", () => renderCatalog(main)],
];

async function route() {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const [path, search = ""] = decodeURI(location.hash.replace(/^#/, "")).split("?");
  const found = ROUTES.map(([re, nav, title, render]) => [re.exec(path), nav, title, render]).find(([m]) => m);
  document.querySelectorAll("[data-route]").forEach((a) => a.removeAttribute("aria-current"));
  if (!found) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to my workspaces")));
    return;
  }
  const [m, nav, title, render] = found;
  document.querySelector(`[data-route="${nav}"]`)?.setAttribute("aria-current", "page");
  document.title = `${title} · Workspaces`;
  try {
    await render(controller.signal, m.map((part) => part && decodeURIComponent(part)), new URLSearchParams(search));
  } catch (e) {
    if (controller.signal.aborted) return;
    replace(main, h("h1", {}, title), h("div", { class: "error", role: "alert" },
      h("p", {}, e instanceof ApiError ? e.message : `Something went wrong: ${e}`)),
      h("p", {}, h("a", { href: "#/" }, "Back to my workspaces")));
  }
  if (!controller.signal.aborted && document.activeElement === document.body) main.focus({ preventScroll: true });
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
