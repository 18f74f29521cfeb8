// The message list of the open room: one element per message id (pending sends by client_id),
// kept in id order, grouped by author, with edit / delete / retry actions reachable by keyboard.
import { avatar, el, linkify, shortTime } from "../ui.js";
import { canManageOpenRoom, openRoom, pendingOf, state } from "./store.js";

const GROUP_WINDOW_MS = 5 * 60 * 1000;
const NEAR_BOTTOM_PX = 120;
const NEAR_TOP_PX = 150;

const scroller = () => document.getElementById("message-scroll");
const list = () => document.getElementById("message-list");
const nodes = new Map(); // message id -> element
let actions = { onEdit: null, onDelete: null, onRetry: null, onNearTop: null };

function nearBottom() {
  const box = scroller();
  return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
}

/** Scroll the list to its newest message and hide the "New messages" button. */
export function scrollToLatest() {
  const box = scroller();
  box.scrollTop = box.scrollHeight;
  document.getElementById("jump-latest").classList.add("d-none");
}

function iconButton(icon, label, onClick, extraClass = "") {
  const className = `btn btn-sm msg-action ${extraClass}`;
  const attributes = { type: "button", className, "aria-label": label, title: label };
  const button = el("button", attributes, el("i", { className: `bi ${icon}`, "aria-hidden": "true" }));
  button.addEventListener("click", onClick);
  return button;
}

function actionBar(message) {
  const mine = message.author.id === state.me.id;
  const room = openRoom();
  const buttons = [];
  if (!message.deleted && mine && room?.is_active) {
    buttons.push(iconButton("bi-pencil", "Edit message", () => startEditing(message.id)));
  }
  if (!message.deleted && (mine || canManageOpenRoom())) {
    const onDelete = () => actions.onDelete(state.messages.get(message.id) || message);
    buttons.push(iconButton("bi-trash", "Delete message", onDelete, "text-danger"));
  }
  if (!buttons.length) return null;
  const names = buttons.map((button) => button.getAttribute("aria-label")).join(",");
  return el("div", {
    className: "msg-actions", role: "group", "aria-label": "Message actions", dataset: { actions: names },
  }, ...buttons);
}

function meta(author, iso, edited) {
  const time = iso
    ? el("time", { className: "msg-time", datetime: iso, title: new Date(iso).toLocaleString() }, shortTime(iso))
    : el("span", { className: "msg-time" }, "now");
  return el("div", { className: "msg-meta" },
    el("span", { className: "msg-author" }, author.name), " ", time,
    edited ? el("span", { className: "msg-edited" }, " (edited)") : null);
}

function body(message) {
  if (message.deleted) return el("div", { className: "msg-text msg-deleted" }, "message deleted");
  const text = el("div", { className: "msg-text" });
  text.append(linkify(message.content));
  return text;
}

function messageNode(message) {
  const { author } = message;
  const time = Date.parse(message.created_at);
  const node = el("div", { className: "msg", dataset: { id: message.id, authorId: author.id, time } });
  const edited = Boolean(message.edited_at) && !message.deleted;
  node.append(
    el("div", { className: "msg-gutter" }, avatar(author, "md")),
    el("div", { className: "msg-main" }, meta(author, message.created_at, edited), body(message)),
  );
  const bar = actionBar(message);
  if (bar) node.append(bar);
  return node;
}

function pendingNode(entry) {
  const author = { id: state.me.id, name: state.me.name, avatar_url: state.me.avatar_url };
  const node = el("div", {
    className: `msg msg-pending${entry.status === "failed" ? " msg-failed" : ""}`,
    dataset: { clientId: entry.client_id, authorId: author.id, time: entry.time },
  });
  const text = el("div", { className: "msg-text" });
  text.append(linkify(entry.content));
  const status = entry.status === "failed"
    ? el("div", { className: "msg-state text-danger", role: "alert" },
      el("i", { className: "bi bi-exclamation-circle", "aria-hidden": "true" }), ` Not sent: ${entry.error} `)
    : el("div", { className: "msg-state text-body-secondary" }, "Sending…");
  if (entry.status === "failed") {
    const retry = el("button", { type: "button", className: "btn btn-link btn-sm p-0 align-baseline" }, "Retry");
    retry.addEventListener("click", () => actions.onRetry(entry.client_id));
    status.append(retry);
  }
  node.append(
    el("div", { className: "msg-gutter" }, avatar(author, "md")),
    el("div", { className: "msg-main" }, meta(author, null, false), text, status),
  );
  return node;
}

function regroup(node) {
  if (!node || !node.classList.contains("msg")) return;
  const previous = node.previousElementSibling;
  const grouped = Boolean(previous)
    && previous.dataset.authorId === node.dataset.authorId
    && Number(node.dataset.time) - Number(previous.dataset.time) < GROUP_WINDOW_MS;
  node.classList.toggle("msg-grouped", grouped);
}

function insertConfirmed(node, id) {
  const box = list();
  let after = box.lastElementChild;
  while (after && (after.classList.contains("msg-pending") || Number(after.dataset.id) > id)) {
    after = after.previousElementSibling;
  }
  if (after) after.after(node);
  else box.prepend(node);
  regroup(node);
  regroup(node.nextElementSibling);
}

function sameMessage(a, b) {
  if (!a) return false;
  const shown = (m) => [m.content, m.edited_at, m.deleted, m.author.name, m.author.avatar_url];
  return shown(a).every((value, i) => value === shown(b)[i]);
}

function redraw(message) {
  const existing = nodes.get(message.id);
  const fresh = messageNode(message);
  fresh.className = existing.className;
  existing.replaceWith(fresh);
  nodes.set(message.id, fresh);
}

/** Add or update a confirmed message of the open room; true if it was not shown before. */
export function upsertMessage(message) {
  if (message.room_id !== state.currentRoomId) return false;
  const held = state.messages.get(message.id);
  if (held?.deleted && !message.deleted) return false; // a late edit answer after the deletion
  state.messages.set(message.id, message);
  const existing = nodes.get(message.id);
  if (existing) {
    // The same message again (my edit's answer, then its echo): keep the node, and the focus in it.
    if (!existing.classList.contains("msg-editing") && !sameMessage(held, message)) redraw(message);
    return false;
  }
  const stick = nearBottom() || message.author.id === state.me.id;
  const node = messageNode(message);
  nodes.set(message.id, node);
  insertConfirmed(node, message.id);
  if (stick) scrollToLatest();
  else document.getElementById("jump-latest").classList.remove("d-none");
  return true;
}

/** Show (or refresh) a pending send of the open room at the bottom of the list. */
export function showPending(entry) {
  const old = list().querySelector(`.msg-pending[data-client-id="${CSS.escape(entry.client_id)}"]`);
  const node = pendingNode(entry);
  if (old) {
    old.replaceWith(node);
  } else {
    list().append(node);
    scrollToLatest();
  }
  regroup(node);
}

/** Remove a pending send's element (its confirmed message replaces it). */
export function dropPending(clientId) {
  const old = list().querySelector(`.msg-pending[data-client-id="${CSS.escape(clientId)}"]`);
  if (!old) return;
  const next = old.nextElementSibling;
  old.remove();
  regroup(next);
}

/** Show a message as deleted. */
export function markDeleted(messageId) {
  const message = state.messages.get(messageId);
  if (message) upsertMessage({ ...message, deleted: true, content: "" });
}

/** Replace the list with a room's messages (oldest to newest) and its pending sends. */
export function showConversation(messages, hasMore) {
  // Messages newer than the page that came while it was on its way (live, or my send's ack) stay.
  const top = messages.at(-1)?.id ?? 0;
  const newer = [...state.messages.values()]
    .filter((message) => message.room_id === state.currentRoomId && message.id > top)
    .sort((a, b) => a.id - b.id);
  nodes.clear();
  state.messages.clear();
  list().replaceChildren();
  for (const message of [...messages, ...newer]) {
    state.messages.set(message.id, message);
    const node = messageNode(message);
    nodes.set(message.id, node);
    list().append(node);
    regroup(node);
  }
  for (const entry of pendingOf(state.currentRoomId).values()) showPending(entry);
  setHasMore(hasMore);
  scrollToLatest();
}

/** Empty the list (no room open). */
export function clearConversation() {
  delete list().dataset.roomId;
  nodes.clear();
  state.messages.clear();
  list().replaceChildren();
  setHistoryStatus("");
}

/** Put older messages above the held ones without moving what the reader looks at. */
export function prependOlder(messages, hasMore) {
  const box = scroller();
  const before = box.scrollHeight;
  const fresh = messages.filter((message) => message.room_id === state.currentRoomId && !nodes.has(message.id));
  const fragment = document.createDocumentFragment();
  const added = fresh.map((message) => {
    state.messages.set(message.id, message);
    const node = messageNode(message);
    nodes.set(message.id, node);
    fragment.append(node);
    return node;
  });
  const first = list().firstElementChild;
  list().prepend(fragment);
  for (const node of added) regroup(node);
  regroup(first);
  box.scrollTop += box.scrollHeight - before;
  setHasMore(hasMore);
}

/** The oldest confirmed id held, or null. */
export function oldestId() {
  return state.messages.size ? Math.min(...state.messages.keys()) : null;
}

/** The newest confirmed id held, or null. */
export function newestId() {
  return state.messages.size ? Math.max(...state.messages.keys()) : null;
}

/** Say above the messages whether older history exists. */
export function setHasMore(hasMore) {
  state.hasMore = hasMore;
  const room = openRoom();
  if (hasMore || !room) {
    setHistoryStatus("");
    return;
  }
  setHistoryStatus(`This is the beginning of ${room.kind === "direct" ? "your conversation" : room.name}.`);
}

/** Text shown above the first message ("Loading…", "This is the beginning…"). */
export function setHistoryStatus(text) {
  document.getElementById("history-status").textContent = text;
}

/** Whether the list does not fill its box yet (then older history should load without a scroll). */
export function listIsShort() {
  const box = scroller();
  return box.scrollHeight <= box.clientHeight + NEAR_TOP_PX;
}

/** Re-draw every message's action buttons (after my role or the room's state changed). */
export function refreshActions() {
  for (const [id, node] of nodes) {
    if (node.classList.contains("msg-editing")) continue;
    const old = node.querySelector(".msg-actions");
    const bar = actionBar(state.messages.get(id));
    if (old?.dataset.actions === bar?.dataset.actions) continue; // unchanged: keep the focus in it
    old?.remove();
    if (bar) node.append(bar);
  }
}

function finishEditing(messageId) {
  const node = nodes.get(messageId);
  if (!node) return;
  node.classList.remove("msg-editing");
  redraw(state.messages.get(messageId));
  nodes.get(messageId)?.querySelector(".msg-action")?.focus();
}

function editorFor(message) {
  const id = `edit-${message.id}`;
  const input = el("textarea", { className: "form-control form-control-sm", id, rows: 2, maxlength: 4000 });
  input.value = message.content;
  const save = el("button", { type: "submit", className: "btn btn-primary btn-sm" }, "Save");
  const cancel = el("button", { type: "button", className: "btn btn-outline-secondary btn-sm" }, "Cancel");
  const form = el("form", { className: "msg-editor" },
    el("label", { className: "visually-hidden", for: id }, "Edit message"), input,
    el("div", { className: "d-flex gap-2 mt-1 align-items-center" }, save, cancel,
      el("small", { className: "text-body-secondary" }, "Enter to save, Esc to cancel")));
  cancel.addEventListener("click", () => finishEditing(message.id));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") finishEditing(message.id);
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content || content === message.content) {
      finishEditing(message.id);
      return;
    }
    save.disabled = true;
    if (await actions.onEdit(message.id, content)) finishEditing(message.id);
    else save.disabled = false;
  });
  return { form, input };
}

function startEditing(messageId) {
  const node = nodes.get(messageId);
  const message = state.messages.get(messageId);
  if (!node || !message || node.classList.contains("msg-editing")) return;
  node.classList.add("msg-editing");
  const { form, input } = editorFor(message);
  node.querySelector(".msg-text").replaceWith(form);
  node.querySelector(".msg-actions")?.remove();
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

/** Edit my newest message (the composer's Arrow Up shortcut); false when there is none. */
export function editLastOwn() {
  const own = [...state.messages.values()].filter((message) => message.author.id === state.me.id && !message.deleted);
  if (!own.length || !openRoom()?.is_active) return false;
  startEditing(Math.max(...own.map((message) => message.id)));
  return true;
}

/** Wire scrolling and the callbacks of the message actions. */
export function initMessages(callbacks) {
  actions = callbacks;
  const box = scroller();
  box.addEventListener("scroll", () => {
    if (box.scrollTop < NEAR_TOP_PX) actions.onNearTop();
    if (nearBottom()) document.getElementById("jump-latest").classList.add("d-none");
  }, { passive: true });
  document.getElementById("jump-latest").addEventListener("click", scrollToLatest);
}
