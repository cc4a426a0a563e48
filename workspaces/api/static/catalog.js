// The image catalog for its admins: add, edit, deprecate, hide, remove; and the
// profiles, read-only, with the rules behind them.

import { ApiError, api, getInfo } from "./api.js";
import { announce, clearErrorOnChange, clearErrors, confirmDialog, duration, h, replace, showFieldErrors } from "./dom.js";
import { kindIcon } from "./list.js";

const KINDS = ["jupyterlab", "vscode", "rstudio"];
const PULL = ["IfNotPresent", "Always", "Never"];
// what the API sends that is not part of a catalog entry
// "successor" is the output's half of deprecated: {message, use}, put back together on save
// (kind_info and kind_env: the kind's defaults, read from workspaces/kinds.py)
const DERIVED = ["available", "unavailable_reason", "successor", "kind_info", "kind_env"];

export async function renderCatalog(main, { signal }) {
  const info = await getInfo();
  if (!info.caller.catalog_admin) {
    replace(main, h("h1", {}, "Image catalog"), h("p", {}, "Only catalog admins may change the image catalog."));
    return;
  }
  const status = h("p", { class: "status", role: "status" });
  const imagesSection = h("section", { "aria-labelledby": "images-title" });
  const profilesSection = h("section", { "aria-labelledby": "profiles-title" });
  replace(main, h("h1", {}, "Image catalog"), status, imagesSection, profilesSection);
  await draw();

  async function draw() {
    const [images, profiles] = await Promise.all([api("GET", "images", { signal }), api("GET", "profiles", { signal })]);
    replace(imagesSection,
      h("div", { class: "title-row" }, h("h2", { id: "images-title" }, "Images"),
        h("button", { type: "button", class: "primary", onclick: () => edit(null) }, "Add image")),
      h("div", { class: "table-wrap" }, imageTable(images.items)));
    replace(profilesSection, h("h2", { id: "profiles-title" }, "Profiles"),
      h("p", { class: "hint" }, "Profiles come from the configuration file; change them there."),
      h("div", { class: "table-wrap" }, profileTable(profiles.items)));
  }

  function imageTable(items) {
    return h("table", { class: "catalog" },
      h("caption", { class: "visually-hidden" }, "Images of the catalog"),
      h("thead", {}, h("tr", {}, ["Image", "Reference", "Kind", "GPU", "Who", "Status", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, items.map((i) => h("tr", { dataset: { image: i.id } },
        h("th", { scope: "row", "data-label": "Image" }, kindIcon(i.kind), " ", i.display_name, h("span", { class: "muted small" }, ` ${i.id}`)),
        h("td", { "data-label": "Reference" }, h("code", {}, i.image)),
        h("td", { "data-label": "Kind" }, i.kind),
        h("td", { "data-label": "GPU" }, i.gpu ? "yes" : "no"),
        h("td", { "data-label": "Who" }, i.groups.length ? `groups: ${i.groups.join(", ")}` : "everyone"),
        h("td", { "data-label": "Status" },
          i.default ? h("span", { class: "badge" }, "default") : null,
          i.hidden ? h("span", { class: "badge" }, "hidden") : null,
          i.deprecated ? h("p", { class: "warning" }, `Deprecated: ${i.deprecated}`) : null,
          i.available ? null : h("p", { class: "muted" }, i.unavailable_reason)),
        h("td", { "data-label": "Actions" }, h("div", { class: "row-actions" },
          button("Edit", i, () => edit(i)),
          i.deprecated ? null : button("Deprecate", i, () => deprecate(i)),
          button(i.hidden ? "Show" : "Hide", i, () => save({ ...entry(i), hidden: !i.hidden }, i.id)),
          button("Remove", i, () => remove(i), "danger")))))));
  }

  function button(text, image, onclick, kind = "") {
    return h("button", {
      type: "button", class: kind, "aria-label": `${text} ${image.display_name}`,
      onclick: async () => {
        status.className = "status";
        try {
          await onclick();
        } catch (e) {
          status.className = "status error";
          status.textContent = e instanceof ApiError ? e.message : String(e);
        }
      },
    }, text);
  }

  async function save(body, id) {
    const saved = id ? await api("PUT", `images/${encodeURIComponent(id)}`, { body }) : await api("POST", "images", { body });
    announce(`Saved ${saved.display_name}.`);
    status.textContent = `Saved ${saved.display_name}.`;
    await draw();
    return saved;
  }

  async function deprecate(image) {
    const answer = await confirmDialog({
      title: `Deprecate ${image.display_name}?`,
      body: [
        "It stays usable; people see this message when they pick it.",
        h("div", { class: "field" }, h("label", { for: "deprecate-message" }, "Message"),
          h("input", { id: "deprecate-message", name: "message", required: true, value: "" })),
      ],
      confirm: "Deprecate",
    });
    if (!answer) return;
    await api("POST", `images/${encodeURIComponent(image.id)}/deprecate`, { body: { message: answer.message } });
    status.textContent = `Deprecated ${image.display_name}.`;
    await draw();
  }

  async function remove(image) {
    const ok = await confirmDialog({
      title: `Remove ${image.display_name}?`,
      body: "New workspaces can no longer pick it. Workspaces that use it keep their spec, but cannot start until it is back.",
      confirm: "Remove",
      danger: true,
    });
    if (!ok) return;
    await api("DELETE", `images/${encodeURIComponent(image.id)}`);
    status.textContent = `Removed ${image.display_name}.`;
    await draw();
  }

  function edit(image) {
    const editor = imageForm(image, info.backend, async (body) => save(body, image?.id));
    replace(imagesSection, editor);
    editor.querySelector("input:not([disabled])")?.focus();
  }

  function imageForm(image, backend, onSave) {
    const v = image ?? { kind: "jupyterlab", pull_policy: "IfNotPresent", groups: [] };
    const text = (id, key, label, attrs = {}) => h("div", { class: "field" },
      h("label", { for: id }, label), h("input", { id, name: key, value: v[key] ?? "", autocomplete: "off", ...attrs }));
    const choice = (id, key, label, options) => h("div", { class: "field" }, h("label", { for: id }, label),
      h("select", { id, name: key }, options.map((o) => h("option", { value: o, selected: v[key] === o }, o))));
    const check = (id, key, label) => h("div", { class: "field checkbox" },
      h("input", { id, name: key, type: "checkbox", checked: Boolean(v[key]) }), h("label", { for: id }, label));
    const local = v.local ?? (image ? null : { python: "default" });
    const formError = h("div", { class: "form-error", role: "alert", hidden: true });
    const form = h("form", { class: "image-form", novalidate: true, "aria-labelledby": "image-form-title" },
      h("h2", { id: "image-form-title" }, image ? `Edit ${image.display_name}` : "Add an image"),
      formError,
      text("img-id", "id", "Id", { disabled: Boolean(image), "aria-describedby": "img-id-hint" }),
      h("p", { class: "hint", id: "img-id-hint" }, "Lowercase letters, digits and hyphens; cannot change later."),
      text("img-display_name", "display_name", "Display name"),
      text("img-description", "description", "Description"),
      text("img-image", "image", "Image reference", { placeholder: "quay.io/jupyter/scipy-notebook:2025-10-20" }),
      choice("img-kind", "kind", "Kind", KINDS),
      choice("img-pull_policy", "pull_policy", "Pull policy", PULL),
      text("img-groups", "groups", "Groups (comma-separated; empty: everyone)", { value: (v.groups ?? []).join(", ") }),
      text("img-deprecated", "deprecated", "Deprecation message (empty: not deprecated)"),
      check("img-gpu", "gpu", "Has GPU libraries"),
      check("img-default", "default", "Default image"),
      check("img-hidden", "hidden", "Hidden (not offered for new workspaces)"),
      backend === "local" ? h("fieldset", { id: "img-local" }, h("legend", {}, "Local runtime"),
        h("div", { class: "field" }, h("label", { for: "img-local-python" }, "Python ('default': the hub's own; or an absolute path)"),
          h("input", { id: "img-local-python", name: "local.python", value: local?.python ?? "", autocomplete: "off" }))) : null,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save"),
        h("button", { type: "button", class: "secondary", onclick: () => draw() }, "Cancel")));
    clearErrorOnChange(form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      formError.hidden = true;
      const data = new FormData(form);
      const body = {
        ...(image ? entry(image) : {}),
        id: image ? image.id : data.get("id").trim(),
        display_name: data.get("display_name").trim(),
        description: data.get("description").trim(),
        image: data.get("image").trim(),
        kind: data.get("kind"),
        pull_policy: data.get("pull_policy"),
        groups: data.get("groups").split(",").map((g) => g.trim()).filter(Boolean),
        deprecated: deprecation(data.get("deprecated").trim(), image?.successor),
        gpu: data.has("gpu"),
        default: data.has("default"),
        hidden: data.has("hidden"),
      };
      if (backend === "local") {
        // the form edits python alone: the entry's other local keys (requirements, warm_pool, ...) stay
        const python = data.get("local.python").trim();
        const kept = image?.local ?? {};
        body.local = python ? { ...kept, python } : (kept.command || kept.requirements || kept.environment ? kept : null);
      }
      try {
        await onSave(body);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        showFieldErrors(e, formError, (path) =>
          form.querySelector(`[name="${CSS.escape(path)}"]`) ?? form.querySelector(`[name="${CSS.escape(path.split(".")[0])}"]`));
      }
    });
    return form;
  }

  function profileTable(items) {
    return h("table", { class: "catalog" },
      h("caption", { class: "visually-hidden" }, "Hardware profiles"),
      h("thead", {}, h("tr", {}, ["Profile", "CPU", "Memory", "GPU", "Who", "Placement", "Idle timeout"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, items.map((p) => h("tr", { dataset: { profile: p.id } },
        h("th", { scope: "row", "data-label": "Profile" }, p.display_name, h("span", { class: "muted small" }, ` ${p.id}`),
          p.default ? h("span", { class: "badge" }, "default") : null, p.hidden ? h("span", { class: "badge" }, "hidden") : null),
        h("td", { "data-label": "CPU" }, range(p.cpu)),
        h("td", { "data-label": "Memory" }, range(p.memory)),
        h("td", { "data-label": "GPU" }, p.gpus || p.max_gpus ? `${p.gpus}${p.max_gpus > p.gpus ? `–${p.max_gpus}` : ""} × ${p.gpu_resource}` : "none"),
        h("td", { "data-label": "Who" }, p.groups.length ? `groups: ${p.groups.join(", ")}` : "everyone"),
        h("td", { "data-label": "Placement" }, placement(p)),
        h("td", { "data-label": "Idle timeout" }, duration(p.idle_timeout))))));
  }
}

// deprecated as PUT wants it: the API shows the message and the successor apart
function deprecation(message, successor) {
  if (!message) return null;
  return successor ? { message, use: successor } : message;
}

// an entry as PUT wants it: without what the API derives, and with its successor (a PUT
// replaces the whole entry, so a hide or show would otherwise drop it)
function entry(image) {
  const out = Object.fromEntries(Object.entries(image).filter(([k]) => !DERIVED.includes(k)));
  if (image.deprecated) out.deprecated = deprecation(image.deprecated, image.successor);
  return out;
}

function range({ guarantee, limit }) {
  if (guarantee == null && limit == null) return "no limit";
  if (guarantee == null) return `up to ${limit}`;
  if (limit == null) return `at least ${guarantee}`;
  return `${guarantee} to ${limit}`;
}

function placement(p) {
  const parts = [];
  for (const [k, v] of Object.entries(p.node_selector)) parts.push(`node ${k}=${v}`);
  for (const t of p.tolerations) parts.push(`tolerates ${t.key ?? "any"}${t.value ? `=${t.value}` : ""}${t.effect ? `:${t.effect}` : ""}`);
  if (p.shm_size) parts.push(`/dev/shm ${p.shm_size}`);
  return parts.length ? parts.join("; ") : "anywhere";
}
