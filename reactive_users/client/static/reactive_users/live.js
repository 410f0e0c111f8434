// reactive-users live component: keeps each [data-reactive-users] element's fields live
// from its websocket (the URL is the element's data-ws-url, rendered by the template tag).
// Replicated text is only ever written with textContent, never parsed as HTML.
//
// Frames: state (on every (re)connect), changed, gone and ended (final), test (synthetic).
// DOM events, dispatched on the element and bubbling to document:
//   reactive-users:changed  detail {changed: [names], fields: {name: value}, version}
//   reactive-users:gone     detail {reason, text}: account withdrawn, deleted, deactivated,
//                           or the session ended (signed out); the element stops reconnecting
//   reactive-users:status   detail {state, text}: connecting, live, reconnecting, offline
//   reactive-users:test     detail: the test frame `reactive emit-test` sent

const RECONNECT_BASE_MS = 500;
const RECONNECT_CAP_MS = 5000;
const HIGHLIGHT_MS = 2500;
const CLOSE_GONE = 4001;
// Closed for good: the session ended (4401, after an "ended" frame), or this user holds
// too many sockets on the server (4429). Reconnecting would only be refused again.
const CLOSE_FINAL = { 4401: "ended", 4429: "too_many" };
const FINAL_TEXT = {
  deactivated: "Signed out: this account was deactivated",
  deleted: "Signed out: this account was deleted",
  withdrawn: "Signed out: this account is no longer shared with this site",
  logged_out: "Signed out: reload to sign in again",
  expired: "Session expired: reload to sign in again",
  password_changed: "Signed out: the password changed, reload to sign in again",
  inactive: "Signed out: this account was disabled",
  too_many: "Too many live pages open: close some, then reload",
  ended: "Signed out",
};

function show(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return value ? "Yes" : "No";
  return String(value);
}

function socketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

const started = new WeakSet();

export function start(root) {
  if (started.has(root)) return;
  started.add(root);
  const statusText = root.querySelector("[data-ru-status]");
  const notice = root.querySelector("[data-ru-gone]");
  let version = Number(root.dataset.version || "0");
  let attempt = 0;
  let finished = false;
  let retryTimer = null;
  let countdown = null;

  function emit(name, detail) {
    root.dispatchEvent(new CustomEvent("reactive-users:" + name, { detail, bubbles: true }));
  }

  function setState(state, text) {
    root.dataset.state = state;
    if (statusText) statusText.textContent = text;
    emit("status", { state, text });
  }

  function field(name) {
    for (const element of root.querySelectorAll("[data-ru-field]")) {
      if (element.dataset.ruField === name) return element;
    }
    return null;
  }

  function highlight(element) {
    element.classList.remove("ru-changed");
    void element.offsetWidth; // restart the animation when it changes again
    element.classList.add("ru-changed");
    window.setTimeout(() => element.classList.remove("ru-changed"), HIGHLIGHT_MS);
  }

  function apply(user, newVersion) {
    const changed = [];
    for (const [name, value] of Object.entries(user || {})) {
      const element = field(name);
      const slot = element && element.querySelector("[data-ru-value]");
      if (!slot) continue;
      const text = show(value);
      if (slot.textContent !== text) {
        slot.textContent = text;
        highlight(element);
        changed.push(name);
      }
    }
    version = newVersion;
    root.dataset.version = String(newVersion);
    if (changed.length) emit("changed", { changed, fields: { ...(user || {}) }, version });
  }

  function finish(reason) {
    finished = true;
    const text = FINAL_TEXT[reason] || FINAL_TEXT.ended;
    root.dataset.gone = reason || "ended";
    if (notice) {
      notice.textContent = text;
      notice.hidden = false;
    }
    setState("offline", text);
    emit("gone", { reason: reason || "ended", text });
  }

  function onFrame(frame) {
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "state") {
      // The server's state on (re)connect; never step back to an older one, unless the
      // operator's repair reset the user to the master's (lower) version.
      if (frame.reset === true || frame.version >= version) apply(frame.user, frame.version);
    } else if (frame.type === "changed") {
      if (frame.version > version) apply(frame.user, frame.version);
    } else if (frame.type === "gone" || frame.type === "ended") {
      finish(frame.reason);
    } else if (frame.type === "test") {
      emit("test", frame);
    }
  }

  function reconnectDelay() {
    const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** attempt);
    attempt += 1;
    return ceiling / 2 + Math.random() * (ceiling / 2); // jitter: spread reconnect storms
  }

  function waitThenConnect(delay) {
    const due = Date.now() + delay;
    const tick = () => {
      const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      setState("reconnecting", "Reconnecting in " + seconds + " s…");
    };
    tick();
    countdown = window.setInterval(tick, 250);
    retryTimer = window.setTimeout(connect, delay);
  }

  function connect() {
    window.clearTimeout(retryTimer);
    window.clearInterval(countdown);
    retryTimer = countdown = null;
    if (!navigator.onLine) {
      setState("offline", "Offline");
      return; // the "online" event connects again
    }
    setState("connecting", "Connecting…");
    const socket = new WebSocket(socketUrl(root.dataset.wsUrl));
    socket.onopen = () => {
      attempt = 0;
      setState("live", "Live");
    };
    socket.onmessage = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      onFrame(frame);
    };
    socket.onclose = (event) => {
      if (event.code === CLOSE_GONE && !finished) finish(root.dataset.gone || "");
      if (event.code in CLOSE_FINAL && !finished) finish(CLOSE_FINAL[event.code]);
      if (!finished) waitThenConnect(reconnectDelay());
    };
  }

  window.addEventListener("online", () => {
    if (!finished && root.dataset.state === "offline") connect();
  });
  window.addEventListener("offline", () => {
    if (!finished && root.dataset.state === "reconnecting") {
      window.clearTimeout(retryTimer);
      window.clearInterval(countdown);
      setState("offline", "Offline");
    }
  });
  if (root.dataset.replicated === "true" && root.dataset.wsUrl) connect();
}

document.querySelectorAll("[data-reactive-users]").forEach(start);
