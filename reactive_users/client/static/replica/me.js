// The "me" page, live: one websocket to /ws/users/<username>/, fields updated from frames.
// Replicated text is only ever written with textContent, never parsed as HTML.
// Frames: state (on every (re)connect), changed, gone and ended (final), test (synthetic).
(function () {
  "use strict";

  const RECONNECT_BASE_MS = 250;
  const RECONNECT_CAP_MS = 5000;
  const CLOSE_GONE = 4001;
  const GONE_TEXT = {
    deactivated: "account deactivated",
    deleted: "signed out: account deleted",
    withdrawn: "signed out: account no longer shared with this site",
  };
  // Closed for good: the session ended (4401, after an "ended" frame), or this user holds
  // too many sockets on the server (4429). Reconnecting would only be refused again.
  const CLOSE_FINAL = { 4401: "ended", 4429: "too_many" };
  const ENDED_TEXT = {
    logged_out: "signed out: reload to sign in again",
    expired: "session expired: reload to sign in again",
    password_changed: "signed out: the password changed, reload to sign in again",
    inactive: "signed out: account disabled",
    too_many: "too many live pages open: close some, then reload",
  };

  const body = document.body;
  const username = body.dataset.username || "";
  let version = Number(body.dataset.version || "0");
  let attempt = 0;
  let finished = false;

  function byId(id) {
    return document.getElementById(id);
  }

  function setState(state, text) {
    body.dataset.ws = state;
    byId("ws-state").textContent = text || state;
  }

  function show(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "boolean") return value ? "true" : "false";
    return String(value);
  }

  function applyUser(user, newVersion) {
    for (const [name, value] of Object.entries(user || {})) {
      const element = byId("field-" + name);
      if (element) element.textContent = show(value);
    }
    version = newVersion;
    body.dataset.version = String(newVersion);
    byId("version").textContent = String(newVersion);
  }

  function finish(reason) {
    finished = true;
    const text = GONE_TEXT[reason] || ENDED_TEXT[reason] || "signed out";
    const gone = byId("gone");
    gone.textContent = text;
    gone.hidden = false;
    body.dataset.gone = reason || "closed";
    setState("closed", text);
  }

  function addTestEvent(frame) {
    const item = document.createElement("li");
    item.dataset.eventId = String(frame.event_id);
    item.textContent = "test event " + frame.event_id + " (version " + frame.version + ")";
    byId("test-events").appendChild(item);
  }

  function onFrame(frame) {
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "state") {
      // The server's state on (re)connect; never step back to an older one, unless the
      // operator's repair reset the user to the master's (lower) version.
      if (frame.reset === true || frame.version >= version) applyUser(frame.user, frame.version);
    } else if (frame.type === "changed") {
      if (frame.version > version) applyUser(frame.user, frame.version);
    } else if (frame.type === "gone" || frame.type === "ended") {
      finish(frame.reason);
    } else if (frame.type === "test") {
      addTestEvent(frame);
    }
  }

  function reconnectDelay() {
    const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** attempt);
    attempt += 1;
    return ceiling / 2 + Math.random() * (ceiling / 2); // jitter: spread reconnect storms
  }

  function connect() {
    setState("connecting");
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const url = scheme + "://" + window.location.host + "/ws/users/" + encodeURIComponent(username) + "/";
    const socket = new WebSocket(url);
    socket.onopen = function () {
      attempt = 0;
      setState("open");
    };
    socket.onmessage = function (message) {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      onFrame(frame);
    };
    socket.onclose = function (event) {
      if (event.code === CLOSE_GONE && !finished) finish(body.dataset.gone || "");
      if (event.code in CLOSE_FINAL && !finished) finish(CLOSE_FINAL[event.code]);
      if (finished) return;
      const delay = reconnectDelay();
      setState("closed", "closed, reconnecting in " + (delay / 1000).toFixed(1) + " s");
      window.setTimeout(connect, delay);
    };
  }

  if (body.dataset.replicated === "true" && username) connect();
})();
