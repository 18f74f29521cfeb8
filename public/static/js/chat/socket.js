// The /chat Socket.IO connection: acks with a time limit, automatic reconnects with a visible
// "Reconnecting…" banner, and the sign-in checks after the server ends a connection.
import { io } from "/static/vendor/socket.io.esm.min.js";
import { api } from "../api.js";
import { state } from "./store.js";

const ACK_TIMEOUT_MS = 15000;
const REFUSED_RETRY_MS = 3000; // a refused connection (database or queue down) is retried by hand
const SIGNED_OUT = new Set(["unauthorized", "session_ended"]);

let socket = null;
let leaving = false; // the page is unloading: a closed socket is not news

function banner(text) {
  const node = document.getElementById("connection-status");
  node.textContent = text || "";
  node.classList.toggle("d-none", !text);
}

function toSignIn() {
  leaving = true;
  const next = window.location.pathname + window.location.search;
  window.location.assign(`/login?next=${encodeURIComponent(next)}`);
}

// The server closed the socket on purpose: Socket.IO will not reconnect by itself.
async function afterServerDisconnect() {
  try {
    await api("GET", "/auth/me");
  } catch (error) {
    if (error.status === 401) {
      toSignIn();
      return;
    }
  }
  socket.connect();
}

function wireLifecycle(onConnect) {
  socket.on("connect", () => {
    state.connected = true;
    banner("");
    onConnect();
  });
  socket.on("disconnect", (reason) => {
    state.connected = false;
    if (leaving) return;
    banner("Reconnecting…");
    if (reason === "io server disconnect") afterServerDisconnect();
  });
  socket.on("connect_error", (error) => {
    if (leaving) return;
    if (SIGNED_OUT.has(error?.data?.code)) {
      toSignIn();
      return;
    }
    banner("Reconnecting…");
    // A refusal by the server (not a network failure) is not retried by Socket.IO itself.
    if (!socket.active) setTimeout(() => socket.connect(), REFUSED_RETRY_MS);
  });
  window.addEventListener("pagehide", () => {
    leaving = true;
  });
  window.addEventListener("pageshow", () => {
    leaving = false; // back from the back/forward cache
  });
}

/** Open the connection; handlers maps server event names to functions, onConnect runs on every (re)connect. */
export function connect(handlers, onConnect) {
  // WebSocket first (no sticky-session dance, and a closed tab is noticed at once); long-polling
  // if a proxy refuses WebSockets.
  socket = io("/chat", {
    transports: ["websocket", "polling"],
    tryAllTransports: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
  });
  wireLifecycle(onConnect);
  for (const [name, handler] of Object.entries(handlers)) socket.on(name, handler);
  return socket;
}

/** Emit an event and resolve with its ack; a missing ack resolves as {ok: false, error: {code: "timeout"}}. */
export function request(event, payload, timeoutMs = ACK_TIMEOUT_MS) {
  return new Promise((resolve) => {
    socket.timeout(timeoutMs).emit(event, payload, (error, answer) => {
      if (error) {
        resolve({ ok: false, error: { code: "timeout", message: "The server did not answer in time." } });
      } else {
        resolve(answer || { ok: false, error: { code: "invalid_answer", message: "The server's answer was empty." } });
      }
    });
  });
}

/** Emit an event whose answer does not matter (typing, mark_read); nothing is queued while offline. */
export function tell(event, payload) {
  if (socket?.connected) socket.emit(event, payload, () => {});
}
