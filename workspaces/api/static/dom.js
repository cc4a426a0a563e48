// Building the page without ever parsing text as HTML: every string a user or
// the API gave becomes a text node or an attribute value, never markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

// "3 minutes ago", "in 52 minutes"
export function relative(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = (Date.parse(iso) - now) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") {
      return RELATIVE.format(Math.round(seconds / size), unit);
    }
  }
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  for (const [unit, size] of UNITS) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${unit}${n === 1 ? "" : "s"}`;
    }
  }
  return `${seconds} seconds`;
}

// A time element: readable text, the exact time on hover and for tools.
export function time(iso, text) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, text ?? relative(iso));
}

// Messages next to their field: <p id="x-error" role="alert"> with aria-describedby.
export function fieldError(input, message) {
  const id = `${input.id}-error`;
  let p = document.getElementById(id);
  if (!message) {
    p?.remove();
    input.removeAttribute("aria-invalid");
    return;
  }
  if (!p) {
    p = h("p", { id, class: "field-error", role: "alert" });
    (input.closest("fieldset, .field") ?? input).append(p);
  }
  p.textContent = message;
  input.setAttribute("aria-invalid", "true");
  const described = new Set((input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
  described.add(id);
  input.setAttribute("aria-describedby", [...described].join(" "));
}

// Once a field changes, its old error no longer applies.
export function clearErrorOnChange(form) {
  const clear = (event) => {
    for (const el of [event.target, event.target.closest("fieldset")]) {
      if (el?.id && el.hasAttribute("aria-invalid")) fieldError(el, null);
    }
  };
  // "input", not "change": a change fires on blur, and a message vanishing then
  // moves the button being clicked from under the pointer. Capture: before a
  // field's own live check, which may set a new error.
  form.addEventListener("input", clear, { capture: true });
}

// An API error's fields next to their controls (fieldFor(path) finds one, or
// null); what has no control here, or the message when no field is named, in
// the form's message box.
export function showFieldErrors(error, formError, fieldFor) {
  const unplaced = [];
  for (const f of error.fields) {
    const target = fieldFor(f.path);
    if (target) fieldError(target, f.message);
    else unplaced.push(f.path ? `${f.path}: ${f.message}` : f.message);
  }
  if (!error.fields.length || unplaced.length) {
    formError.textContent = unplaced.length ? unplaced.join("; ") : error.message;
    formError.hidden = false;
  }
}

export function clearErrors(root) {
  root.querySelectorAll(".field-error").forEach((p) => p.remove());
  root.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

// A modal question; resolves true when the person confirms (or, when the body
// has fields, their values by name). The body is inside the form, so that its
// fields are checked (required) and Enter in one confirms; Cancel is no submit
// button, so it needs neither, and it is what gets the focus first when there
// is no field: Enter alone never deletes anything.
export function confirmDialog({ title, body, confirm, danger = false }) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title" }, title),
      h("form", { method: "dialog" },
        ...[body].flat().map((line) => (line instanceof Node ? line : h("p", {}, line))),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: () => dialog.close("cancel") }, "Cancel"),
          h("button", { value: "ok", class: danger ? "danger" : "primary" }, confirm))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? collect(dialog) : false);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

function collect(dialog) {
  const inputs = dialog.querySelectorAll("input, textarea");
  if (!inputs.length) return true;
  return Object.fromEntries([...inputs].map((i) => [i.name, i.value]));
}

export function announce(message) {
  const region = document.getElementById("announcer") ?? document.body.appendChild(
    h("div", { id: "announcer", class: "visually-hidden", "aria-live": "polite" }));
  region.textContent = message;
}
