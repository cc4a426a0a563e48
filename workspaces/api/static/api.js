// The REST API, with the page's OAuth cookie and JupyterHub's xsrf header.

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;

export const BASE = meta("workspaces-api");
export const HUB = meta("workspaces-hub");
export const USER = meta("workspaces-user");
const XSRF = meta("workspaces-xsrf");

export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code ?? "error";
    this.fields = error.fields ?? [];
  }
}

// signal: the view's; a view left behind stops waiting for its answers (the
// fetch rejects with an AbortError, which the router ignores).
export async function api(method, path, { body, signal } = {}) {
  // every request: JupyterHub checks the xsrf token of any script-made request
  // (a fetch), GET included, when the cookie authenticates it
  const headers = { Accept: "application/json", "X-XSRFToken": XSRF };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(BASE + path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

export const ws = (owner, name) => `workspaces/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;

// The progress stream of a start: calls onEvent for each event until the
// stream ends; throws ApiError when it cannot be opened.
export async function progress(owner, name, onEvent, signal) {
  const response = await fetch(`${BASE}${ws(owner, name)}/progress`, {
    headers: { Accept: "text/event-stream", "X-XSRFToken": XSRF },
    credentials: "same-origin",
    signal,
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split("\n");
    buffer = lines.pop();
    for (const line of lines) {
      if (line.startsWith("data:")) onEvent(JSON.parse(line.slice(5)));
    }
  }
}

// A URL the hub gave for a server, if it is a web address: never a
// javascript: or data: URL, whatever the hub's configuration.
export function webUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? url : null;
  } catch {
    return null;
  }
}

// Who the caller is and what the hub offers; asked once per page load.
let info;
export async function getInfo() {
  info ??= api("GET", "info");
  return info;
}
