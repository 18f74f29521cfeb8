// The conversation header: the room's name and description, and its menu (invite link,
// close / reopen, leave, delete) for those allowed to use each item.
import { api } from "../api.js";
import { copyField, toast } from "../ui.js";
import { confirmDialog } from "./dialogs.js";
import { canManageOpenRoom, isAdmin, openRoom, roomLabel, state } from "./store.js";

let callbacks = { left: () => {}, deleted: () => {} };

function showItem(action, visible) {
  const item = document.querySelector(`[data-room-action="${action}"]`);
  item.closest("li").classList.toggle("d-none", !visible);
  return visible;
}

/** Redraw the header (and which menu items show) for the open room. */
export function renderHeader() {
  const room = openRoom();
  const title = document.getElementById("room-title");
  const description = document.getElementById("room-description");
  title.replaceChildren();
  if (!room) {
    title.textContent = "Parley";
    description.textContent = "";
    document.getElementById("room-menu").classList.add("d-none");
    return;
  }
  const icon = room.kind === "direct" ? "bi-person" : room.kind === "private" ? "bi-lock" : "bi-hash";
  const glyph = document.createElement("i");
  glyph.className = `bi ${icon} room-title-icon`;
  glyph.setAttribute("aria-hidden", "true");
  title.append(glyph, roomLabel(room));
  description.textContent = room.kind === "direct" ? "Direct message" : room.description || "";
  const manage = canManageOpenRoom();
  const direct = room.kind === "direct";
  const shown = [
    showItem("invite", manage && room.kind === "private"),
    showItem("close", manage && !direct && room.is_active),
    showItem("reopen", manage && !direct && !room.is_active),
    showItem("leave", !direct && state.myRole !== null),
  ].some(Boolean);
  const canDelete = showItem("delete", manage && (!direct || isAdmin()));
  showItem("divider", shown && canDelete);
  document.getElementById("room-menu").classList.toggle("d-none", !(shown || canDelete));
}

async function roomCall(method, suffix, body) {
  const room = openRoom();
  try {
    return (await api(method, `/rooms/${room.id}${suffix}`, body)) ?? {};
  } catch (error) {
    toast(error.message, "danger");
    return null;
  }
}

function inviteUrl(code) {
  return `${window.location.origin}/invite/${encodeURIComponent(code)}`;
}

async function showInvite() {
  const room = openRoom();
  if (!room.invite_code) {
    // The room object may predate my ownership: read it again rather than rotate the code.
    const answer = await roomCall("GET", "");
    if (!answer?.room?.invite_code) return;
    room.invite_code = answer.room.invite_code;
  }
  const code = room.invite_code;
  document.getElementById("invite-link").value = inviteUrl(code);
  window.bootstrap.Modal.getOrCreateInstance(document.getElementById("invite-modal")).show();
}

function copyInvite() {
  copyField(document.getElementById("invite-link"), "Invite link copied.");
}

async function rotateInvite() {
  const answer = await roomCall("POST", "/invite", {});
  if (!answer) return;
  openRoom().invite_code = answer.invite_code;
  document.getElementById("invite-link").value = inviteUrl(answer.invite_code);
  toast("A new invite link was made; the old one no longer works.", "success");
}

async function deleteRoom() {
  const room = openRoom();
  const confirmed = await confirmDialog({
    title: `Delete ${roomLabel(room)}?`,
    text: "The room and all of its messages will be deleted for everyone. This cannot be undone.",
    action: "Delete room",
  });
  if (confirmed && (await roomCall("DELETE", ""))) callbacks.deleted(room.id);
}

async function leaveRoom() {
  const room = openRoom();
  const answer = await roomCall("POST", "/leave", {});
  if (answer) callbacks.left(room.id);
}

/** Close (false) or reopen (true) the open room. */
export async function setOpenRoomActive(active) {
  await roomCall("POST", active ? "/reopen" : "/close", {});
}

/** Wire the header menu; hooks.left(roomId) / hooks.deleted(roomId) run after leaving / deleting. */
export function initHeader(hooks) {
  callbacks = hooks;
  const handlers = {
    invite: showInvite,
    close: () => setOpenRoomActive(false),
    reopen: () => setOpenRoomActive(true),
    leave: leaveRoom,
    delete: deleteRoom,
  };
  for (const [action, handler] of Object.entries(handlers)) {
    document.querySelector(`[data-room-action="${action}"]`).addEventListener("click", handler);
  }
  document.getElementById("invite-copy").addEventListener("click", copyInvite);
  document.getElementById("invite-rotate").addEventListener("click", rotateInvite);
}
