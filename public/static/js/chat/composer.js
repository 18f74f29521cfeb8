// The composer: Enter sends, Shift+Enter adds a line; sends are shown at once (optimistic),
// confirmed by the ack or the new_message echo, and can be retried with the same client_id.
import { request, tell } from "./socket.js";
import { dropPending, editLastOwn, showPending, upsertMessage } from "./messages.js";
import { newClientId, openRoom, pendingOf, state } from "./store.js";

const TYPING_RENEW_MS = 3000;
const MAX_HEIGHT_PX = 200;

let typingSince = 0; // when typing {is_typing: true} was last sent, 0 when not typing
let typingRoomId = null;

const input = () => document.getElementById("composer-input");

function autosize() {
  const box = input();
  box.style.height = "auto";
  box.style.height = `${Math.min(box.scrollHeight, MAX_HEIGHT_PX)}px`;
}

/** Tell the room that I stopped typing (on send, on room change, on an emptied box). */
export function stopTyping() {
  if (typingSince && typingRoomId !== null) tell("typing", { room_id: typingRoomId, is_typing: false });
  typingSince = 0;
  typingRoomId = null;
}

function noteTyping() {
  const roomId = state.currentRoomId;
  if (roomId === null) return;
  if (!input().value.trim()) {
    stopTyping();
    return;
  }
  const now = Date.now();
  if (typingRoomId !== roomId) stopTyping();
  if (now - typingSince < TYPING_RENEW_MS) return;
  typingSince = now;
  typingRoomId = roomId;
  tell("typing", { room_id: roomId, is_typing: true });
}

/** Take the server's confirmed message for one of my sends: the pending copy goes away. */
export function confirmSend(message) {
  const pending = state.pending.get(message.room_id);
  if (message.client_id && pending?.has(message.client_id) && message.author.id === state.me.id) {
    pending.delete(message.client_id);
    if (message.room_id === state.currentRoomId) dropPending(message.client_id);
  }
  return upsertMessage(message);
}

async function deliver(roomId, entry) {
  const answer = await request("send_message", { room_id: roomId, content: entry.content, client_id: entry.client_id });
  if (answer.ok) {
    confirmSend(answer.message);
    return;
  }
  if (!pendingOf(roomId).has(entry.client_id)) return; // the echo confirmed it meanwhile
  entry.status = "failed";
  entry.error = answer.error?.message || "unknown error";
  if (roomId === state.currentRoomId) showPending(entry);
}

/** Send text to the open room: shown at once, then confirmed or marked failed. */
export function send(content) {
  const roomId = state.currentRoomId;
  const entry = { client_id: newClientId(), content, status: "sending", error: "", time: Date.now() };
  pendingOf(roomId).set(entry.client_id, entry);
  showPending(entry);
  stopTyping();
  deliver(roomId, entry);
}

/** Send a failed message again with its original client_id (the server never stores it twice). */
export function retry(clientId) {
  const roomId = state.currentRoomId;
  const entry = pendingOf(roomId).get(clientId);
  if (!entry) return;
  entry.status = "sending";
  showPending(entry);
  deliver(roomId, entry);
}

/** Enable or disable the composer (closed rooms, no room open) and refresh its placeholder. */
export function setComposerEnabled(enabled) {
  const room = openRoom();
  const box = input();
  box.disabled = !enabled;
  document.getElementById("composer-send").disabled = !enabled;
  if (!room) box.placeholder = "Message";
  else if (!enabled) box.placeholder = "This room is closed";
  else box.placeholder = room.kind === "direct" ? `Message ${room.peer?.name || ""}` : `Message #${room.name}`;
}

/** Put the keyboard focus into the composer. */
export function focusComposer() {
  if (!input().disabled) input().focus();
}

function submit() {
  const content = input().value.trim();
  if (!content || state.currentRoomId === null || input().disabled) return;
  send(content);
  input().value = "";
  autosize();
}

/** Wire the textarea and the send button. */
export function initComposer() {
  const form = document.getElementById("composer");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    focusComposer();
  });
  input().addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "ArrowUp" && !input().value && editLastOwn()) {
      event.preventDefault();
    }
  });
  input().addEventListener("input", () => {
    autosize();
    noteTyping();
  });
}
