// Opening a room: join it over the socket (the latest page, or a catch-up after a reconnect),
// load its members, page older history on scroll, and keep the read marker moving.
import { api, newestOnly } from "../api.js";
import { toast } from "../ui.js";
import { confirmSend, focusComposer, setComposerEnabled, stopTyping } from "./composer.js";
import { renderHeader } from "./header.js";
import { renderMembers } from "./members.js";
import {
  clearConversation, listIsShort, newestId, oldestId, prependOlder, refreshActions, setHistoryStatus, showConversation,
} from "./messages.js";
import { setBaseTitle, tabVisible } from "./notify.js";
import { putRoom, renderRooms } from "./rooms.js";
import { request, tell } from "./socket.js";
import { canManageOpenRoom, catchUpSinceId, openRoom, rememberRoom, roomLabel, state } from "./store.js";
import { renderTyping } from "./typing.js";

const HISTORY_PAGE = 50;
const MARK_READ_DELAY_MS = 300;
const JOIN_RETRY_MS = 3000;

let loadedRoomId = null; // the room whose messages the list holds
let joinTicket = 0; // answers to an older join (the user moved on) are dropped
let loadingOlder = false;
let markReadTimer = null;
let onUnavailable = () => {};
const membersLoad = newestOnly(); // an older list must not replace a newer one

/** Show the closed notice and enable or disable the composer to match the open room. */
export function applyRoomState() {
  const room = openRoom();
  const closed = Boolean(room) && !room.is_active;
  document.getElementById("closed-notice").classList.toggle("d-none", !closed);
  document.getElementById("closed-reopen").classList.toggle("d-none", !(closed && canManageOpenRoom()));
  setComposerEnabled(Boolean(room) && room.is_active);
  renderHeader();
  refreshActions();
  if (room) setBaseTitle(`${room.kind === "direct" ? "" : "#"}${roomLabel(room)} · Parley`);
}

/** Tell the server I have read the open room up to its newest message (soon, once). */
export function scheduleMarkRead() {
  clearTimeout(markReadTimer);
  markReadTimer = setTimeout(() => {
    const room = openRoom();
    const newest = newestId();
    if (!room || newest === null || !tabVisible()) return;
    tell("mark_read", { room_id: room.id, message_id: newest });
    if (room.unread_count) {
      room.unread_count = 0;
      renderRooms();
    }
  }, MARK_READ_DELAY_MS);
}

/** Load the open room's members (and my role in it). */
export async function loadMembers() {
  const roomId = state.currentRoomId;
  const isNewest = membersLoad();
  let members;
  try {
    ({ members } = await api("GET", `/rooms/${roomId}/members`));
  } catch {
    return; // the room went away or the server is unreachable; the next join tries again
  }
  if (roomId !== state.currentRoomId || !isNewest()) return;
  state.members = members;
  state.myRole = members.find((member) => member.user.id === state.me.id)?.role || null;
  renderMembers();
  applyRoomState();
}

function showLatest(answer) {
  showConversation(answer.messages, answer.has_more);
  loadedRoomId = state.currentRoomId;
  if (answer.has_more && listIsShort()) loadOlder();
}

async function catchUp(roomId, answer) {
  if (!answer.has_more) {
    for (const message of answer.messages) confirmSend(message);
    return;
  }
  // More was missed than one answer holds: start again from the latest page.
  const latest = await request("join_room", { room_id: roomId });
  if (latest.ok && roomId === state.currentRoomId) showLatest(latest);
}

function joinFailed(roomId, ticket, error) {
  if (error.code === "timeout" || error.code === "rate_limited" || error.code.endsWith("_unavailable")) {
    setHistoryStatus("Could not load the messages; trying again…");
    setTimeout(() => {
      if (ticket === joinTicket) joinOpenRoom();
    }, JOIN_RETRY_MS);
    return;
  }
  toast(error.message, "warning", { title: "That room is not available." });
  onUnavailable(roomId);
}

/** Join the open room over the socket: its latest page, or what was missed since the catch-up point. */
export async function joinOpenRoom() {
  const roomId = state.currentRoomId;
  if (roomId === null || !state.connected) return;
  const ticket = ++joinTicket;
  const since = loadedRoomId === roomId ? catchUpSinceId() : null;
  const payload = since === null ? { room_id: roomId } : { room_id: roomId, since_id: since };
  const list = document.getElementById("message-list");
  list.setAttribute("aria-busy", "true");
  const answer = await request("join_room", payload);
  list.removeAttribute("aria-busy");
  if (ticket !== joinTicket || roomId !== state.currentRoomId) return;
  if (!answer.ok) {
    joinFailed(roomId, ticket, answer.error);
    return;
  }
  putRoom({ ...answer.room, unread_count: tabVisible() ? 0 : answer.room.unread_count });
  if (since === null) showLatest(answer);
  else await catchUp(roomId, answer);
  list.dataset.roomId = String(roomId); // the list holds this room's messages (tests wait for it)
  applyRoomState();
  scheduleMarkRead();
  loadMembers();
}

/** Open a room: the list, header and members switch to it, then it is joined. */
export function openRoomById(roomId) {
  if (roomId === state.currentRoomId) return;
  stopTyping();
  state.currentRoomId = roomId;
  state.myRole = null;
  state.members = [];
  loadedRoomId = null;
  loadingOlder = false;
  clearConversation();
  setHistoryStatus("Loading…");
  document.getElementById("chat-empty").classList.add("d-none");
  document.getElementById("main").classList.remove("no-room");
  renderMembers();
  renderTyping();
  renderRooms();
  applyRoomState();
  rememberRoom(roomId);
  window.history.replaceState(null, "", `/?room=${roomId}`);
  joinOpenRoom();
  focusComposer();
}

/** Show the "no rooms yet" prompt instead of a conversation. */
export function showNoRoom() {
  stopTyping();
  joinTicket += 1;
  state.currentRoomId = null;
  state.myRole = null;
  state.members = [];
  loadedRoomId = null;
  clearConversation();
  renderMembers();
  renderTyping();
  renderRooms();
  applyRoomState();
  setBaseTitle("Parley");
  document.getElementById("chat-empty").classList.remove("d-none");
  document.getElementById("main").classList.add("no-room");
  window.history.replaceState(null, "", "/");
}

/** Load the page of history before the oldest held message (on scrolling to the top). */
export async function loadOlder() {
  const roomId = state.currentRoomId;
  const oldest = oldestId();
  if (loadingOlder || !state.hasMore || roomId === null || oldest === null || loadedRoomId !== roomId) return;
  loadingOlder = true;
  setHistoryStatus("Loading older messages…");
  try {
    const answer = await api("GET", `/rooms/${roomId}/messages?before=${oldest}&limit=${HISTORY_PAGE}`);
    if (roomId !== state.currentRoomId) return;
    prependOlder(answer.messages, answer.has_more);
  } catch (error) {
    if (roomId === state.currentRoomId) setHistoryStatus(`Could not load older messages: ${error.message}`);
    return;
  } finally {
    loadingOlder = false;
  }
  if (state.hasMore && listIsShort()) loadOlder();
}

/** What to do when the open room turns out to be gone or closed to me (open another one). */
export function onRoomUnavailable(handler) {
  onUnavailable = handler;
}
