// A prebuilt JupyterLab 4 federated extension, written by hand: no build step.
//
// JupyterLab loads this script, then asks the container _JUPYTERLAB[name] for
// its "./extension" module (init, then get). The plugin imports nothing: it
// uses only app.commands (JupyterLab's apputils:notify) and the server
// settings JupyterLab already has. It asks the workspaces server extension
// (workspaces.keepalive_server) for the coming stop every 30 s, a request
// that is not activity, and shows a notification with a "Keep running" action.
var _JUPYTERLAB;
(function () {
  "use strict";
  var NAME = "workspaces-keepalive";
  var KEEP = "workspaces:keep-running";
  var EVERY_MS = 30000;

  function request(settings, method, path) {
    var headers = {};
    var xsrf = document.cookie.match("\\b_xsrf=([^;]*)\\b");
    if (xsrf) headers["X-XSRFToken"] = decodeURIComponent(xsrf[1]);
    if (settings.token) headers.Authorization = "token " + settings.token;
    var url = settings.baseUrl.replace(/\/?$/, "/") + "workspaces-keepalive/" + path;
    return window.fetch(url, { method: method, headers: headers, credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("the server answered " + r.status);
      return r.json();
    });
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  var plugin = {
    id: NAME + ":plugin",
    description: "A notification before an idle workspace stops, with a Keep running action.",
    autoStart: true,
    activate: function (app) {
      var settings = app.serviceManager.serverSettings;
      var shownFor = null; // the stop time the notification on screen is about
      var shownId = null;

      function dismiss() {
        if (shownId !== null) app.commands.execute("apputils:dismiss-notification", { id: shownId });
        shownId = null;
        shownFor = null;
      }

      function show(warning) {
        if (!warning) return dismiss();
        if (warning.at === shownFor) return;
        dismiss();
        shownFor = warning.at;
        var idle = warning.reason !== "max_age";
        var message = idle
          ? "This workspace is idle and stops at " + clock(warning.at) + "."
          : "This workspace reaches its maximum age and stops at " + clock(warning.at) + ", busy or not. Save your work.";
        var options = { autoClose: false, actions: idle ? [{ label: "Keep running", commandId: KEEP, args: {} }] : [] };
        Promise.resolve(app.commands.execute("apputils:notify", { message: message, type: "warning", options: options }))
          .then(function (id) { shownId = id; });
      }

      function check() {
        // no_track_activity: asking is not activity (the handler does not count it either)
        request(settings, "GET", "warning?no_track_activity=1").then(function (body) { show(body.warning); }, function () {});
      }

      app.commands.addCommand(KEEP, {
        label: "Keep this workspace running",
        execute: function () {
          return request(settings, "POST", "keepalive").then(function (body) {
            dismiss();
            app.commands.execute("apputils:notify", {
              message: "This workspace keeps running.", type: "success", options: { autoClose: 5000 },
            });
            show(body.warning);
          });
        },
      });
      app.restored.then(check);
      setInterval(check, EVERY_MS);
    },
  };

  _JUPYTERLAB = _JUPYTERLAB || {};
  _JUPYTERLAB[NAME] = {
    init: function () {},
    get: function (module) {
      if (module !== "./extension") return Promise.reject(new Error("no module " + module + " in " + NAME));
      return Promise.resolve(function () { return { __esModule: true, default: [plugin] }; });
    },
  };
})();
