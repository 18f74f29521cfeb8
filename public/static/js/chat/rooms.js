// The rooms column: my rooms and direct messages with unread badges, the create-room dialog
// and the "Browse rooms" dialog of public rooms I am not in.
import { api } from "../api.js";
import { busy, clearErrors, el, enableDialogTriggers, formValues, showErrors, toast } from "../ui.js";
import { avatarWithPresence } from "./members.js";
import { roomLabel, state } from "./store.js";

let onOpen = () => {};

function byLabel(a, b) {
  return roomLabel(a).toLocaleLowerCase().localeCompare(roomLabel(b).toLocaleLowerCase());
}

function roomIcon(room) {
  if (room.kind === "direct") return avatarWithPresence(room.peer || { id: 0, name: "" }, "xs");
  const icon = room.kind === "private" ? "bi-lock" : "bi-hash";
  return el("i", { className: `bi ${icon} room-icon`, "aria-hidden": "true" });
}

function unreadBadge(room) {
  if (!room.unread_count || room.id === state.currentRoomId) return null;
  const count = room.unread_count > 99 ? "99+" : String(room.unread_count);
  return el("span", { className: "badge rounded-pill text-bg-danger unread-badge" }, count,
    el("span", { className: "visually-hidden" }, " unread"));
}

function roomItem(room) {
  const current = room.id === state.currentRoomId;
  const classes = ["room-link"];
  if (current) classes.push("active");
  if (room.unread_count && !current) classes.push("has-unread");
  if (!room.is_active) classes.push("is-closed");
  const closed = room.is_active
    ? null
    : el("i", { className: "bi bi-archive room-closed-icon", title: "Closed", "aria-label": "closed" });
  const link = el("a", {
    className: classes.join(" "),
    href: `/?room=${room.id}`,
    "aria-current": current ? "page" : null,
    dataset: { roomId: room.id },
  }, roomIcon(room), el("span", { className: "room-name" }, roomLabel(room)), closed, unreadBadge(room));
  link.addEventListener("click", (event) => {
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    onOpen(room.id);
  });
  return el("li", {}, link);
}

/** Redraw both room lists from state.rooms (only rooms I am a member of). */
export function renderRooms() {
  const mine = [...state.rooms.values()].filter((room) => room.is_member).sort(byLabel);
  const rooms = mine.filter((room) => room.kind !== "direct");
  const direct = mine.filter((room) => room.kind === "direct");
  document.getElementById("room-list").replaceChildren(...rooms.map(roomItem));
  document.getElementById("dm-list").replaceChildren(...direct.map(roomItem));
  document.getElementById("room-list-empty").classList.toggle("d-none", rooms.length > 0);
  document.getElementById("dm-list-empty").classList.toggle("d-none", direct.length > 0);
  const unread = mine.some((room) => room.unread_count && room.id !== state.currentRoomId);
  document.getElementById("rooms-toggle-dot").classList.toggle("d-none", !unread);
}

/** Put a room object into the store (merging what is known) and redraw the lists. */
export function putRoom(room) {
  const known = state.rooms.get(room.id) || {};
  state.rooms.set(room.id, { ...known, ...room });
  renderRooms();
}

/** Forget a room (left or deleted) and redraw the lists. */
export function dropRoom(roomId) {
  state.rooms.delete(roomId);
  renderRooms();
}

/** Load GET /rooms into the store: unread counts and every room I belong to. */
export async function loadRooms() {
  const { rooms } = await api("GET", "/rooms");
  for (const room of rooms) {
    // The open room is read as it arrives; its count would only be stale.
    if (room.id === state.currentRoomId && document.visibilityState !== "hidden") room.unread_count = 0;
  }
  state.rooms = new Map(rooms.map((room) => [room.id, room]));
  renderRooms();
}

function wireCreateDialog() {
  const modal = document.getElementById("create-room-modal");
  const form = document.getElementById("create-room-form");
  modal.addEventListener("shown.bs.modal", () => form.elements.name.focus());
  modal.addEventListener("hidden.bs.modal", () => {
    form.reset();
    clearErrors(form);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    let answer;
    try {
      const { name, description } = formValues(form);
      const body = { name, description, kind: form.elements.kind.value };
      answer = await busy(form, () => api("POST", "/rooms", body));
    } catch (error) {
      showErrors(form, error);
      return;
    }
    putRoom(answer.room);
    window.bootstrap.Modal.getOrCreateInstance(modal).hide();
    onOpen(answer.room.id);
  });  enableDialogTriggers(modal);
}

async function join(room, button) {
  button.disabled = true;
  try {
    const answer = await api("POST", `/rooms/${room.id}/join`, {});
    putRoom(answer.room);
    window.bootstrap.Modal.getOrCreateInstance(document.getElementById("browse-modal")).hide();
    onOpen(answer.room.id);
  } catch (error) {
    button.disabled = false;
    toast(error.message, "danger");
  }
}

function browseItem(room) {
  const button = el("button", { type: "button", className: "btn btn-sm btn-primary" }, "Join",
    el("span", { className: "visually-hidden" }, ` ${room.name}`));
  button.addEventListener("click", () => join(room, button));
  const members = `${room.member_count} member${room.member_count === 1 ? "" : "s"}`;
  const about = room.description ? `${room.description} · ${members}` : members;
  const name = el("div", { className: "fw-semibold text-truncate" },
    el("i", { className: "bi bi-hash", "aria-hidden": "true" }), room.name);
  const details = el("div", { className: "flex-grow-1 text-truncate" },
    name, el("div", { className: "small text-body-secondary text-truncate" }, about));
  const item = el("li", { className: "list-group-item d-flex align-items-center gap-3" }, details, button);
  item.dataset.name = room.name.toLocaleLowerCase();
  return item;
}

function filterBrowse() {
  const query = document.getElementById("browse-filter").value.trim().toLocaleLowerCase();
  for (const item of document.querySelectorAll("#browse-list > li[data-name]")) {
    item.classList.toggle("d-none", !item.dataset.name.includes(query));
  }
}

async function fillBrowse() {
  const list = document.getElementById("browse-list");
  list.replaceChildren(el("li", { className: "list-group-item text-body-secondary" }, "Loading…"));
  try {
    await loadRooms();
  } catch (error) {
    list.replaceChildren(el("li", { className: "list-group-item text-danger" }, error.message));
    return;
  }
  const joinable = (room) => !room.is_member && room.kind === "public" && room.is_active;
  const open = [...state.rooms.values()].filter(joinable).sort(byLabel);
  if (!open.length) {
    const text = "You are in every public room already. Create a new one!";
    list.replaceChildren(el("li", { className: "list-group-item text-body-secondary" }, text));
    return;
  }
  list.replaceChildren(...open.map(browseItem));
  filterBrowse();
}

function wireBrowseDialog() {
  const modal = document.getElementById("browse-modal");
  modal.addEventListener("show.bs.modal", fillBrowse);
  modal.addEventListener("shown.bs.modal", () => document.getElementById("browse-filter").focus());
  document.getElementById("browse-filter").addEventListener("input", filterBrowse);
  enableDialogTriggers(modal);
}

/** Wire the rooms column; open(roomId) is called when the user picks a room. */
export function initRooms(open) {
  onOpen = open;
  wireCreateDialog();
  wireBrowseDialog();
}
