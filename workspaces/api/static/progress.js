// A start, live: the hub's progress events until the workspace is ready (then
// into it) or the start fails (then its cause, in the cluster's or the hub's words).

import { ApiError, api, progress, webUrl, ws } from "./api.js";
import { h, replace } from "./dom.js";

// Creates made from this page and still in flight, by "owner/name": their
// answers (or errors) say why a start that is not running ended.
export const startedHere = new Map();

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

export async function renderProgress(main, { owner, name, signal }) {
  const bar = h("progress", { max: 100, value: 0, "aria-labelledby": "progress-title" });
  const log = h("ol", { class: "events", "aria-live": "polite" });
  const outcome = h("div", { class: "outcome" });
  replace(main,
    h("h1", { id: "progress-title" }, `Starting ${name}`),
    bar, log, outcome,
    h("p", {}, h("a", { href: "#/" }, "Back to my workspaces")));

  const finish = (w) => {
    const url = webUrl(w.url);
    if (w.state === "running" && url) {
      outcome.append(h("p", { class: "ok" }, "Ready. Opening the workspace…"));
      location.assign(url);
    } else if (w.state === "failed") {
      failed(w.failure_reason ?? "the start failed");
    } else {
      outcome.append(h("p", {}, `The workspace is ${w.state}.`));
    }
  };

  const failed = (message) => {
    bar.classList.add("failed");
    replace(outcome, h("div", { class: "error", role: "alert" },
      h("h2", {}, "The start failed"), h("p", { class: "reason" }, message)));
  };

  const key = `${owner}/${name}`;
  const creating = startedHere.get(key);
  let inFlight = Boolean(creating);
  creating?.then(() => { inFlight = false; });
  startedHere.delete(key);

  for (;;) {
    let url = null;
    let failure = null;
    try {
      await progress(owner, name, (event) => {
        if (typeof event.progress === "number") bar.value = event.progress;
        if (event.message) log.append(h("li", {}, event.message));
        if (event.ready) url = event.url;
        if (event.failed) failure = String(event.message ?? "the start failed").replace(/^Spawn failed: /, "");
      }, signal);
    } catch (e) {
      if (signal.aborted) return;
      // gone while its create was answered: the start was refused and the API removed it (below)
      if (creating && e instanceof ApiError && e.status === 404) break;
      if (!(e instanceof ApiError && e.status === 409)) throw e;
      // not starting: not yet (the hub is still taking the create), or any more
      if (inFlight) {
        await pause(300);
        continue;
      }
    }
    if (signal.aborted) return;
    if (failure) return failed(failure);
    if (url) {
      bar.value = 100;
      return finish({ state: "running", url });
    }
    break;
  }
  const refused = creating ? await creating : null;
  if (refused instanceof ApiError) return failed(refused.message);
  finish(await api("GET", ws(owner, name)));
}
