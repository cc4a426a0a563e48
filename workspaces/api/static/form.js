// Create a workspace, or change the spec of one: the same form, checked as you
// type where the rule is known here, and always by the API, whose message is
// shown next to the field it names.

import { ApiError, api, getInfo, ws } from "./api.js";
import { startedHere } from "./progress.js";
import { announce, clearErrorOnChange, clearErrors, fieldError, h, replace, showFieldErrors } from "./dom.js";
import { kindIcon } from "./list.js";

// JupyterHub's safe slug: what the hub accepts as a server name.
const NAME = /^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$/;
const NAME_RULE = "1–30 lowercase letters, digits and single hyphens; starts with a letter, ends with a letter or digit";
const SIZES = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };

export function nameProblem(name, taken) {
  if (!name) return "A name is required.";
  if (name.length > 30 || !NAME.test(name)) return `Use ${NAME_RULE}.`;
  if (taken.has(name)) return `You already have a workspace named ${name}.`;
  return null;
}

function gib(quantity) {
  const m = /^(\d+(?:\.\d+)?)([KMGT]i?)?$/.exec(quantity ?? "");
  return m ? (Number(m[1]) * (SIZES[m[2]] ?? 1)) / 2 ** 30 : null;
}

// What the caller may pick (catalog admins are sent everything, with its groups).
function allowed(entry, groups) {
  if (entry.hidden) return false;
  return !entry.groups?.length || entry.groups.some((g) => groups.includes(g));
}

export async function renderForm(main, { owner, name, query = new URLSearchParams(), signal }) {
  const editing = Boolean(name);
  const info = await getInfo();
  const kube = info.backend === "kubernetes";
  const [images, profiles, namespaces, existing, current] = await Promise.all([
    api("GET", "images", { signal }),
    api("GET", "profiles", { signal }),
    kube && !editing ? api("GET", "namespaces", { signal }) : { items: [] },
    editing ? null : api("GET", `workspaces?owner=${encodeURIComponent(info.caller.name)}&limit=500`, { signal }),
    editing ? api("GET", ws(owner, name), { signal }) : null,
  ]);
  const groups = info.caller.groups;
  const spec = current ? current.spec : {
    image: query.get("image") ?? undefined,
    profile: query.get("profile") ?? undefined,
    namespace: query.get("namespace") ?? undefined,
  };
  const taken = new Set((existing?.items ?? []).map((w) => w.name));
  const imageChoices = images.items.filter((i) => allowed(i, groups) || i.id === spec.image);
  const profileChoices = profiles.items.filter((p) => allowed(p, groups) || p.id === spec.profile);
  const defaultImage = imageChoices.find((i) => i.default && i.available) ?? imageChoices.find((i) => i.available);
  const startable = (p) => p.capacity?.state !== "never";
  const defaultProfile = profileChoices.find((p) => p.default && startable(p)) ?? profileChoices.find(startable);

  const formError = h("div", { id: "form-error", class: "form-error", role: "alert", tabindex: -1, hidden: true });
  const nameInput = h("input", {
    id: "ws-name", name: "name", required: true, autocomplete: "off", spellcheck: "false",
    maxlength: 30, value: editing ? name : query.get("name") ?? "", disabled: editing,
    "aria-describedby": "ws-name-hint",
  });
  nameInput.addEventListener("input", () => fieldError(nameInput, nameInput.value ? nameProblem(nameInput.value, taken) : null));

  // a deprecated image's successor is preselected on edit: saving switches to it (at the next start)
  const update = current?.image_update && imageChoices.some((i) => i.id === current.image_update.use) ? current.image_update : null;
  const chosenImage = spec.custom_image ? null : update?.use ?? spec.image ?? defaultImage?.id;
  const custom = customImageChoice(info.custom_images, spec.custom_image);
  const imageSet = h("fieldset", { id: "ws-image", class: "cards" }, h("legend", {}, "Image"),
    update ? h("p", { class: "warning", id: "ws-image-update" },
      `Update available: ${update.message} ${update.display_name} replaces it and is selected; save to switch at the next start.`) : null,
    imageChoices.map((i) => imageCard(i, chosenImage === i.id, allowed(i, groups))),
    unknownChoice("image", spec.image, imageChoices), custom?.card);
  const gpuInput = h("input", { id: "ws-gpus", name: "gpus", type: "number", min: 0, step: 1, inputmode: "numeric" });
  const gpuField = h("div", { class: "field", hidden: true },
    h("label", { for: "ws-gpus" }, "GPUs"), gpuInput, h("p", { class: "hint", id: "ws-gpus-hint" }));
  gpuInput.setAttribute("aria-describedby", "ws-gpus-hint");
  const profileSet = h("fieldset", { id: "ws-profile", class: "cards" }, h("legend", {}, "Profile"),
    profileChoices.map((p) => profileCard(p, (spec.profile ?? defaultProfile?.id) === p.id, allowed(p, groups))),
    unknownChoice("profile", spec.profile, profileChoices));
  profileSet.addEventListener("change", () => syncGpus(false));

  function selectedProfile() {
    const id = profileSet.querySelector("input:checked")?.value;
    return profiles.items.find((p) => p.id === id);
  }

  function syncGpus(initial) {
    const p = selectedProfile();
    const adjustable = p && p.max_gpus > p.gpus;
    gpuField.hidden = !adjustable;
    if (!adjustable) return;
    gpuInput.max = p.max_gpus;
    if (!initial || spec.gpus === undefined) gpuInput.value = p.gpus;
    else gpuInput.value = spec.gpus;
    gpuField.querySelector(".hint").textContent = `${p.display_name} gives ${p.gpus}; up to ${p.max_gpus}.`;
  }

  const kubeFields = [];
  let storageInput, namespaceSelect, volumes;
  if (kube) {
    const max = gib(info.storage.max_size);
    storageInput = h("input", {
      id: "ws-storage", name: "storage", type: "number", min: 1, max: max ?? undefined, step: 1,
      value: gib(spec.storage ?? info.storage.default_size) ?? "", disabled: editing,
      "aria-describedby": "ws-storage-hint",
    });
    kubeFields.push(h("div", { class: "field" },
      h("label", { for: "ws-storage" }, "Storage (GiB)"), storageInput,
      h("p", { class: "hint", id: "ws-storage-hint" },
        editing ? "The volume keeps its size." : `Default ${info.storage.default_size}, at most ${info.storage.max_size}.`)));
    if (!editing) {
      namespaceSelect = h("select", { id: "ws-namespace", name: "namespace" },
        namespaces.items.map((n) => h("option", { value: n.name, selected: n.name === spec.namespace }, `${n.name} (${n.role})`)),
        spec.namespace && !namespaces.items.some((n) => n.name === spec.namespace)
          ? h("option", { value: spec.namespace, selected: true }, `${spec.namespace} (not offered to you)`) : null);
      // the chosen namespace's ResourceQuotas: a start they cannot hold is refused
      const quotaHint = h("p", { class: "hint", id: "ws-namespace-quota" });
      const showQuotas = () => {
        const chosen = namespaces.items.find((n) => n.name === namespaceSelect.value);
        quotaHint.textContent = (chosen?.quotas ?? []).map((q) => `Quota ${q}`).join("; ");
        quotaHint.hidden = !quotaHint.textContent;
      };
      namespaceSelect.setAttribute("aria-describedby", "ws-namespace-quota");
      namespaceSelect.addEventListener("change", showQuotas);
      showQuotas();
      kubeFields.push(h("div", { class: "field" }, h("label", { for: "ws-namespace" }, "Namespace"), namespaceSelect, quotaHint));
    }
    volumes = volumeList(spec.volumes ?? []);
    kubeFields.push(volumes.element);
  }

  const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save" : "Create and start");
  const form = h("form", { class: "workspace-form", novalidate: true, "aria-labelledby": "form-title" },
    formError,
    h("div", { class: "field" }, h("label", { for: "ws-name" }, "Name"), nameInput,
      h("p", { class: "hint", id: "ws-name-hint" }, editing ? "A workspace keeps its name." : `${NAME_RULE}.`)),
    imageSet, profileSet, gpuField, kubeFields,
    h("div", { class: "actions" }, submit, h("a", { class: "button secondary", href: "#/" }, "Cancel")));
  form.addEventListener("submit", onSubmit);
  clearErrorOnChange(form);

  replace(main,
    h("h1", { id: "form-title" }, editing ? `Edit ${name}` : "New workspace"),
    current?.state === "running" || current?.state === "pending"
      ? h("p", { class: "notice" }, "This workspace is running: a change applies the next time it starts.") : null,
    form);
  syncGpus(true);

  async function onSubmit(event) {
    event.preventDefault();
    clearErrors(form);
    formError.hidden = true;
    if (!editing) {
      const problem = nameProblem(nameInput.value, taken);
      if (problem) {
        fieldError(nameInput, problem);
        nameInput.focus();
        return;
      }
    }
    if (custom?.radio.checked && !custom.input.value.trim()) {
      fieldError(custom.input, "Enter an image reference.");
      custom.input.focus();
      return;
    }
    const body = { spec: collectSpec() };
    submit.disabled = true;
    try {
      if (editing) {
        const saved = await api("PATCH", ws(owner, name), { body: { ...body, revision: current.revision } });
        announce(saved.restart_pending ? `Saved; ${name} gets it at its next start.` : `Saved ${name}.`);
        if (!signal.aborted) location.hash = "#/";
      } else {
        // The API answers a create once the start is well under way (or over), so
        // the progress view opens as soon as the workspace exists; a refusal comes
        // before that and is shown here, next to its field.
        const wanted = nameInput.value;
        const creating = api("POST", "workspaces", { body: { name: wanted, ...body } });
        const exists = await Promise.race([creating.then(() => true), appeared(info.caller.name, wanted, creating)]);
        // (someone who went elsewhere meanwhile stays there; the list shows the start)
        if (exists && !signal.aborted) {
          startedHere.set(`${info.caller.name}/${wanted}`, creating.catch((e) => e));
          location.hash = `#/progress/${encodeURIComponent(info.caller.name)}/${encodeURIComponent(wanted)}`;
        }
      }
    } catch (e) {
      showErrors(e);
    } finally {
      submit.disabled = false;
    }
  }

  function collectSpec() {
    const out = {};
    const image = imageSet.querySelector("input:checked")?.value;
    const profile = profileSet.querySelector("input:checked")?.value;
    if (custom?.radio.checked) out.custom_image = custom.input.value.trim();
    else if (image) out.image = image;
    if (profile) out.profile = profile;
    const p = selectedProfile();
    if (!gpuField.hidden && gpuInput.value !== "" && Number(gpuInput.value) !== p?.gpus) out.gpus = Number(gpuInput.value);
    if (kube) {
      if (!editing && storageInput.value) out.storage = `${storageInput.value}Gi`;
      if (editing && current.spec.storage) out.storage = current.spec.storage;
      if (namespaceSelect?.value) out.namespace = namespaceSelect.value;
      const vols = volumes.values();
      if (vols.length) out.volumes = vols;
    }
    return out;
  }

  function showErrors(e) {
    if (!(e instanceof ApiError)) {
      formError.textContent = String(e);
      formError.hidden = false;
      return;
    }
    showFieldErrors(e, formError, fieldFor);
    // where a keyboard user fixes it: the first field in error (in a group of
    // cards, its chosen card), else the form's message
    const invalid = form.querySelector("[aria-invalid]");
    const target = invalid?.matches("fieldset") ? invalid.querySelector("input:checked, input:not(:disabled)") : invalid;
    (target ?? formError).focus();
  }

  function fieldFor(path) {
    const key = path.replace(/^spec\./, "").split(/[.[]/)[0];
    if (path === "name") return nameInput;
    return {
      image: imageSet, custom_image: custom?.input ?? imageSet, profile: profileSet, gpus: gpuField.hidden ? profileSet : gpuInput,
      storage: storageInput, namespace: namespaceSelect, volumes: volumes?.element,
    }[key] ?? null;
  }
}

// Resolves true once the workspace exists at the hub; false if the create
// settles first (its own answer then says what happened).
async function appeared(owner, name, creating) {
  let settled = false;
  creating.then(() => { settled = true; }, () => { settled = true; });
  while (!settled) {
    await new Promise((r) => setTimeout(r, 400));
    if (settled) return false;
    try {
      await api("GET", ws(owner, name));
      return true;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
  }
  return false;
}

function imageCard(image, checked, offered) {
  const id = `image-${image.id}`;
  const usable = image.available && offered;
  return h("div", { class: `card${usable ? "" : " unavailable"}` },
    h("input", { type: "radio", name: "image", id, value: image.id, checked, disabled: !usable && !checked,
      "aria-describedby": `${id}-about` }),
    h("label", { for: id },
      h("span", { class: "card-title" }, kindIcon(image.kind), " ", image.display_name),
      h("span", { class: "badges" }, h("span", { class: "badge", title: `opens ${image.kind_info.display_name} at ${image.kind_info.url}`, dataset: { kind: image.kind } }, image.kind_info.display_name), image.gpu ? h("span", { class: "badge gpu" }, "GPU") : null)),
    h("div", { id: `${id}-about`, class: "card-body" },
      image.description ? h("p", {}, image.description) : null,
      image.deprecated ? h("p", { class: "warning" }, `Deprecated: ${image.deprecated}`) : null,
      image.available ? null : h("p", { class: "muted" }, `Unavailable: ${image.unavailable_reason}`),
      offered ? null : h("p", { class: "muted" }, "Not offered to you.")));
}

// A reference the catalog's custom_images allow (GET /info), beside the cards:
// a field where one can run, else the reason; nothing where none is allowed
// (a workspace that has one keeps it, so that the API says what is wrong).
function customImageChoice(offer, value) {
  if (!offer.allow.length && !value) return null;
  const usable = !offer.refused || Boolean(value);
  const radio = h("input", { type: "radio", name: "image", id: "image-custom", value: "", checked: Boolean(value),
    disabled: !usable, "aria-describedby": "image-custom-about" });
  const input = h("input", { id: "ws-custom-image", name: "custom_image", value: value ?? "", autocomplete: "off",
    spellcheck: "false", "aria-describedby": "ws-custom-image-hint" });
  input.addEventListener("input", () => { radio.checked = true; });
  const card = h("div", { class: `card${usable ? "" : " unavailable"}` }, radio,
    h("label", { for: "image-custom" }, h("span", { class: "card-title" }, "Custom image")),
    h("div", { id: "image-custom-about", class: "card-body" },
      offer.refused ? h("p", { class: "muted" }, `Unavailable: ${offer.refused}`) : null,
      usable ? h("div", { class: "field" }, h("label", { for: "ws-custom-image" }, "Image reference"), input,
        h("p", { class: "hint", id: "ws-custom-image-hint" }, `Allowed: ${offer.allow.join(", ") || "none"} ('*': one path component; any tag).`)) : null));
  return { card, radio, input };
}

// capacity (GET /profiles): whether it can start now; "never" is disabled, like the hub's own form
function profileCard(profile, checked, offered) {
  const id = `profile-${profile.id}`;
  const capacity = profile.capacity;
  const usable = offered && capacity?.state !== "never";
  return h("div", { class: `card${usable ? "" : " unavailable"}` },
    h("input", { type: "radio", name: "profile", id, value: profile.id, checked, disabled: !usable && !checked,
      "aria-describedby": `${id}-about` }),
    h("label", { for: id }, h("span", { class: "card-title" }, profile.display_name),
      profile.gpus ? h("span", { class: "badges" }, h("span", { class: "badge gpu" }, `${profile.gpus} GPU`)) : null),
    h("div", { id: `${id}-about`, class: "card-body" },
      h("p", {}, profile.summary),
      profile.description ? h("p", { class: "muted" }, profile.description) : null,
      capacityNote(capacity),
      offered ? null : h("p", { class: "muted" }, "Not offered to you.")));
}

function capacityNote(capacity) {
  if (!capacity) return null;
  if (capacity.state === "never") return h("p", { class: "muted", dataset: { capacity: "never" } }, `Unavailable: ${capacity.message}`);
  return h("p", { class: capacity.available ? "muted" : "warning", dataset: { capacity: capacity.state } }, capacity.message);
}

// A choice asked for (a link, a saved spec) that is not on offer: kept, so that
// the API says why it cannot be used.
function unknownChoice(name, value, choices) {
  if (!value || choices.some((c) => c.id === value)) return null;
  const id = `${name}-${value}`.replace(/[^a-zA-Z0-9_-]/g, "_");
  return h("div", { class: "card unavailable" },
    h("input", { type: "radio", name, id, value, checked: true }),
    h("label", { for: id }, h("span", { class: "card-title" }, value)),
    h("div", { class: "card-body" }, h("p", { class: "muted" }, "Not offered to you.")));
}

function volumeList(initial) {
  let n = 0;
  const rows = h("div", { class: "volume-rows" });
  const element = h("fieldset", { id: "ws-volumes" }, h("legend", {}, "Data volumes"),
    h("p", { class: "hint" }, "Existing PersistentVolumeClaims of the namespace, mounted into the workspace."),
    rows,
    h("button", { type: "button", class: "secondary", onclick: () => add({}) }, "Add a data volume"));

  function add(v) {
    const i = n++;
    const row = h("div", { class: "volume-row" },
      h("div", { class: "field" }, h("label", { for: `vol-${i}-claim` }, "Claim"),
        h("input", { id: `vol-${i}-claim`, name: "claim", value: v.claim ?? "", autocomplete: "off" })),
      h("div", { class: "field" }, h("label", { for: `vol-${i}-path` }, "Mount path"),
        h("input", { id: `vol-${i}-path`, name: "mount_path", value: v.mount_path ?? "", placeholder: "/data" })),
      h("div", { class: "field checkbox" },
        h("input", { id: `vol-${i}-ro`, name: "read_only", type: "checkbox", checked: Boolean(v.read_only) }),
        h("label", { for: `vol-${i}-ro` }, "Read-only")),
      h("button", { type: "button", class: "secondary", "aria-label": `Remove data volume ${i + 1}`, onclick: () => row.remove() }, "Remove"));
    rows.append(row);
  }
  initial.forEach(add);
  return {
    element,
    values: () => [...rows.children].map((row) => ({
      claim: row.querySelector('[name="claim"]').value.trim(),
      mount_path: row.querySelector('[name="mount_path"]').value.trim(),
      read_only: row.querySelector('[name="read_only"]').checked,
    })).filter((v) => v.claim || v.mount_path),
  };
}
