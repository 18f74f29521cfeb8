// The chat page: wires the columns together and turns /chat events into changes on screen.
import { api } from "../api.js";
import { toast } from "../ui.js";
import { confirmSend, initComposer, retry } from "./composer.js";
import {
  applyRoomState, joinOpenRoom, loadMembers, loadOlder, onRoomUnavailable, openRoomById, scheduleMarkRead, showNoRoom,
} from "./conversation.js";
import { confirmDialog } from "./dialogs.js";
import { initHeader, setOpenRoomActive } from "./header.js";
import { initMembers, refreshPresence, renderMembers, updateMember } from "./members.js";
import { initMessages, markDeleted, upsertMessage } from "./messages.js";
import { noteUnseen, tabVisible, watchVisibility } from "./notify.js";
import { dropRoom, initRooms, loadRooms, putRoom, renderRooms } from "./rooms.js";
import { connect } from "./socket.js";
import { openRoom, rememberedRoom, roomLabel, state } from "./store.js";
import { clearAllTyping, clearTyper, onUserTyping } from "./typing.js";

let connectedBefore = false;

function hidePanel(id) {
  const panel = document.getElementById(id);
  window.bootstrap.Offcanvas.getInstance(panel)?.hide();
}

// The room to show when nothing else is asked for: the oldest room I am in (a team's first
// room, its "general"), direct rooms last.
function firstRoom() {
  const mine = [...state.rooms.values()].filter((room) => room.is_member);
  const order = (room) => (room.kind === "direct" ? 1 : 0);
  mine.sort((a, b) => order(a) - order(b) || a.id - b.id);
  return mine[0] || null;
}

/** Open my first room, or the "no rooms yet" prompt. */
function openFallback() {
  const room = firstRoom();
  if (room) openRoomById(room.id);
  else showNoRoom();
}

function openFromSidebar(roomId) {
  hidePanel("rooms-panel");
  openRoomById(roomId);
}

/** A room left my list (deleted, or I left it): forget it and move on if it was open. */
function forgetRoom(roomId, message, variant) {
  const room = state.rooms.get(roomId);
  if (!room) return;
  dropRoom(roomId);
  state.pending.delete(roomId);
  if (roomId === state.currentRoomId) {
    toast(message.replace("{room}", roomLabel(room)), variant);
    openFallback();
  }
}

async function openDirect(user) {
  try {
    const { room } = await api("POST", `/users/${user.id}/dm`);
    putRoom(room);
    hidePanel("members-panel");
    openRoomById(room.id);
  } catch (error) {
    toast(error.message, "danger");
  }
}

async function editMessage(messageId, content) {
  try {
    const { message } = await api("PATCH", `/messages/${messageId}`, { content });
    upsertMessage(message);
    return true;
  } catch (error) {
    toast(error.message, "danger");
    return false;
  }
}

async function deleteMessage(message) {
  const confirmed = await confirmDialog({
    title: "Delete this message?",
    text: "Everyone in the room will see that it was deleted.",
    action: "Delete message",
  });
  if (!confirmed) return;
  try {
    await api("DELETE", `/messages/${message.id}`);
    markDeleted(message.id);
  } catch (error) {
    toast(error.message, "danger");
  }
}

function onNewMessage({ message }) {
  clearTyper(message.room_id, message.author.id);
  const fromOther = message.author.id !== state.me.id;
  const room = state.rooms.get(message.room_id);
  if (message.room_id === state.currentRoomId) {
    const shown = confirmSend(message);
    if (!shown || !fromOther) return;
    if (tabVisible()) {
      scheduleMarkRead();
      return;
    }
  } else {
    confirmSend(message);
    if (!fromOther) return;
    if (!room) {
      loadRooms().catch(() => {});
      noteUnseen();
      return;
    }
  }
  if (room) {
    room.unread_count = (room.unread_count || 0) + 1;
    renderRooms();
  }
  noteUnseen();
}

function setActive(roomId, active) {
  const room = state.rooms.get(roomId);
  if (!room) return;
  room.is_active = active;
  renderRooms();
  if (roomId !== state.currentRoomId) return;
  applyRoomState();
  if (active) {
    toast(`${roomLabel(room)} was reopened: you can write again.`, "info");
  } else {
    const text = `${roomLabel(room)} was closed. Its history stays readable; new messages are off.`;
    toast(text, "warning", { title: "Room closed." });
  }
}

function onRoomCreated({ room }) {
  const known = state.rooms.get(room.id) || {};
  const mine = room.kind === "direct" || room.created_by?.id === state.me.id;
  putRoom({ is_member: mine, unread_count: 0, ...known, ...room });
}

function onMembership(joined) {
  return ({ room_id: roomId, user }) => {
    const room = state.rooms.get(roomId);
    if (user.id === state.me.id) {
      if (joined) loadRooms().catch(() => {});
      else forgetRoom(roomId, "You left {room}.", "info");
      return;
    }
    if (room) room.member_count = Math.max(0, (room.member_count || 0) + (joined ? 1 : -1));
    if (roomId === state.currentRoomId) updateMember(user, joined);
  };
}

const handlers = {
  ready: ({ user }) => {
    state.me = { ...state.me, ...user };
  },
  online_users: ({ users }) => {
    state.online = new Set(users.map((user) => user.id));
    renderMembers();
    renderRooms();
  },
  user_online: ({ user }) => {
    state.online.add(user.id);
    refreshPresence(user.id);
  },
  user_offline: ({ user_id: userId }) => {
    state.online.delete(userId);
    refreshPresence(userId);
  },
  new_message: onNewMessage,
  message_edited: ({ message }) => {
    if (state.messages.has(message.id)) upsertMessage(message);
  },
  message_deleted: ({ message_id: messageId }) => markDeleted(messageId),
  user_typing: onUserTyping,
  user_joined: onMembership(true),
  user_left: onMembership(false),
  room_created: onRoomCreated,
  room_updated: ({ room }) => {
    if (!state.rooms.has(room.id)) return;
    putRoom(room);
    if (room.id === state.currentRoomId) applyRoomState();
  },
  room_closed: ({ room_id: roomId }) => setActive(roomId, false),
  room_reopened: ({ room_id: roomId }) => setActive(roomId, true),
  room_deleted: ({ room_id: roomId }) => forgetRoom(roomId, "{room} was deleted.", "warning"),
};

// Every (re)connect: join the open room again (catching up), and refresh the unread counts.
async function onConnect() {
  clearAllTyping();
  if (!connectedBefore) {
    connectedBefore = true;
    joinOpenRoom();
    return;
  }
  joinOpenRoom();
  try {
    await loadRooms();
  } catch {
    return;
  }
  if (state.currentRoomId !== null && !state.rooms.get(state.currentRoomId)?.is_member) openFallback();
}

function initialRoom() {
  const asked = Number(new URLSearchParams(window.location.search).get("room"));
  if (Number.isInteger(asked) && asked > 0) return asked;
  const remembered = rememberedRoom();
  if (remembered && state.rooms.get(remembered)?.is_member) return remembered;
  return firstRoom()?.id ?? null;
}

async function start() {
  initRooms(openFromSidebar);
  initMembers(openDirect);
  initHeader({
    left: (roomId) => forgetRoom(roomId, "You left {room}.", "info"),
    deleted: (roomId) => forgetRoom(roomId, "{room} was deleted.", "success"),
  });
  initComposer();
  initMessages({ onEdit: editMessage, onDelete: deleteMessage, onRetry: retry, onNearTop: loadOlder });
  onRoomUnavailable((roomId) => {
    if (state.rooms.get(roomId)?.is_member) dropRoom(roomId);
    if (roomId === state.currentRoomId) openFallback();
  });
  watchVisibility(() => {
    if (openRoom()) scheduleMarkRead();
  });
  document.getElementById("closed-reopen").addEventListener("click", () => setOpenRoomActive(true));
  connect(handlers, onConnect);
  try {
    await loadRooms();
  } catch (error) {
    toast(error.message, "danger", { title: "Your rooms could not be loaded." });
  }
  const roomId = initialRoom();
  if (roomId === null) {
    showNoRoom();
  } else {
    openRoomById(roomId);
    loadMembers(); // at once, without waiting for the socket
  }
}

start();
