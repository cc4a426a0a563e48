// Sharing a workspace: the Share dialog (people, groups and links, each
// revocable) and "Shared with me" in the list. The hub decides who may
// share: the API answers for it, and this page only shows its answers.

import { ApiError, api, webUrl, ws } from "./api.js";
import { announce, h, replace, time } from "./dom.js";

const EXPIRIES = [["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days"], ["2592000", "30 days"]];

// The button that opens the dialog, for a workspace the caller may share.
export function shareButton(w, label) {
  return h("button", { type: "button", "aria-label": `Share ${label}`, onclick: () => openShareDialog(w, label) }, "Share");
}

export function openShareDialog(w, label) {
  const path = `${ws(w.owner, w.name)}/shares`;
  const message = h("p", { class: "status", role: "status" });
  const who = h("div", { class: "share-list" });
  const link = h("div", { class: "share-link" });

  const kind = h("select", { id: "share-kind", name: "kind", "aria-label": "Share with a" },
    h("option", { value: "user" }, "User"), h("option", { value: "group" }, "Group"));
  const name = h("input", { id: "share-name", name: "name", required: true, autocomplete: "off", placeholder: "name" });
  const expires = h("select", { id: "share-expires", name: "expires" },
    EXPIRIES.map(([value, text]) => h("option", { value, selected: value === "86400" }, text)));

  const dialog = h("dialog", { class: "share", "aria-labelledby": "share-title" },
    h("h2", { id: "share-title" }, `Share ${label}`),
    h("p", { class: "muted small" }, "Who you share it with can open it and work in it as you do: run code, read and change its files."),
    h("form", { class: "share-add", onsubmit: (e) => { e.preventDefault(); add(); } },
      h("label", { for: "share-name" }, "Add a person or a group"),
      h("div", { class: "share-row" }, kind, name, h("button", { class: "primary" }, "Share"))),
    h("form", { class: "share-code", onsubmit: (e) => { e.preventDefault(); makeLink(); } },
      h("label", { for: "share-expires" }, "Or make a link that works for"),
      h("div", { class: "share-row" }, expires, h("button", {}, "Create link"))),
    link,
    h("h3", {}, "Who has access"),
    who,
    message,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Close")));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  load().catch(showError);

  function showError(e) {
    message.className = "status error";
    message.textContent = e instanceof ApiError ? e.message : String(e);
  }

  function said(text) {
    message.className = "status";
    message.textContent = text;
    announce(text);
  }

  async function load() {
    const { shares, codes } = await api("GET", path);
    const rows = [
      ...shares.map((s) => [`${s.kind === "group" ? "Group" : "User"} ${s.name}`, time(s.created), { [s.kind]: s.name }]),
      ...codes.map((c) => [`Link ${c.id}`, h("span", {}, "expires ", time(c.expires), `, used ${c.uses}×`), { code: c.id }]),
    ];
    replace(who, rows.length
      ? h("ul", {}, rows.map(([what, when, body]) => h("li", {},
        h("span", {}, what), " ", h("span", { class: "muted small" }, when), " ",
        h("button", { type: "button", class: "danger", "aria-label": `Revoke ${what}`, onclick: () => revoke(what, body) }, "Revoke"))))
      : h("p", { class: "muted" }, "Only you."));
  }

  async function add() {
    try {
      const share = await api("POST", path, { body: { [kind.value]: name.value.trim() } });
      name.value = "";
      said(`Shared with ${share.kind} ${share.name}.`);
      await load();
    } catch (e) {
      showError(e);
    }
  }

  let shownCode = null; // the id of the link on screen

  async function makeLink() {
    try {
      const code = await api("POST", path, { body: { code: { expires_in: Number(expires.value) } } });
      shownCode = code.id;
      const url = code.full_accept_url || new URL(code.accept_url, location.href).href;
      const field = h("input", { id: "share-url", readonly: true, value: url, "aria-label": "Share link" });
      replace(link,
        h("p", { class: "small" }, "Anyone logged in who opens this link gets access. The link stops working ",
          time(code.expires), "; it is shown only now:"),
        h("div", { class: "share-row" }, field,
          h("button", { type: "button", onclick: () => copy(field) }, "Copy link")));
      said("Link created.");
      await load();
    } catch (e) {
      showError(e);
    }
  }

  async function copy(field) {
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      said("Link copied.");
    } catch {
      said("Link selected: copy it with Ctrl+C."); // no clipboard access (http, or refused)
    }
  }

  async function revoke(what, body) {
    try {
      await api("DELETE", path, { body });
      // the link shown once must not stay on screen, with its Copy button, once it no longer works
      if (body.all || (body.code && body.code === shownCode)) replace(link);
      said(`Revoked ${what}.`);
      await load();
    } catch (e) {
      showError(e);
    }
  }
}

// "Shared with me": workspaces others shared with the caller, each with an
// Open link while it runs (a stopped one is its owner's to start).
export async function showShared(box, signal) {
  const { items } = await api("GET", "shared", { signal });
  box.hidden = !items.length;
  if (!items.length) {
    replace(box);
    return;
  }
  replace(box,
    h("h2", {}, "Shared with me"),
    h("table", {},
      h("caption", { class: "visually-hidden" }, "Workspaces others shared with you"),
      h("thead", {}, h("tr", {}, ["Owner", "Name", "State", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, items.map((s) => {
        const url = s.ready ? webUrl(s.url) : null;
        return h("tr", { dataset: { shared: `${s.owner}/${s.name}` } },
          h("td", { "data-label": "Owner" }, s.owner),
          h("th", { scope: "row", "data-label": "Name" }, s.name),
          h("td", { "data-label": "State" }, h("span", { class: `badge state-${s.ready ? "running" : "stopped"}` }, s.ready ? "running" : "stopped")),
          h("td", { "data-label": "Actions" }, url
            ? h("a", { class: "button primary", href: url, "aria-label": `Open ${s.owner}/${s.name}` }, "Open")
            : h("span", { class: "muted" }, "not running")));
      }))));
}
