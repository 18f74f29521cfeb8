// "X is typing…" under the open room's messages: others' user_typing events, each expiring
// after 5 s without renewal, and dropped when that person's message arrives.
import { state } from "./store.js";

const EXPIRES_MS = 5000;
const typers = new Map(); // room id -> Map(user id -> {name, timer})

function describe(names) {
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return "Several people are typing…";
}

/** Redraw the indicator for the open room. */
export function renderTyping() {
  const node = document.getElementById("typing-indicator");
  const room = typers.get(state.currentRoomId);
  const names = room ? [...room.values()].map((entry) => entry.name) : [];
  node.textContent = names.length ? describe(names) : "";
}

/** Someone stopped typing in a room (their message arrived, or they said so). */
export function clearTyper(roomId, userId) {
  const room = typers.get(roomId);
  const entry = room?.get(userId);
  if (!entry) return;
  clearTimeout(entry.timer);
  room.delete(userId);
  if (roomId === state.currentRoomId) renderTyping();
}

/** Handle a user_typing event. */
export function onUserTyping({ room_id: roomId, user, is_typing: isTyping }) {
  if (user.id === state.me.id) return;
  if (!isTyping) {
    clearTyper(roomId, user.id);
    return;
  }
  if (!typers.has(roomId)) typers.set(roomId, new Map());
  const room = typers.get(roomId);
  clearTimeout(room.get(user.id)?.timer);
  const timer = setTimeout(() => clearTyper(roomId, user.id), EXPIRES_MS);
  room.set(user.id, { name: user.name, timer });
  if (roomId === state.currentRoomId) renderTyping();
}

/** Forget every indicator (after a reconnect nobody's state is known). */
export function clearAllTyping() {
  for (const room of typers.values()) for (const entry of room.values()) clearTimeout(entry.timer);
  typers.clear();
  renderTyping();
}
