// /admin/rooms: public and private rooms page by page, searchable by name and filtered by status;
// close, reopen and delete them (delete asks first) and see who their members are.
import { api, newestOnly } from "../api.js";
import { avatar, el, toast } from "../ui.js";
import {
  actionButton,
  badge,
  debounce,
  messageRow,
  onlineLabel,
  pagedList,
  shortDate,
  toastError,
} from "./table.js";

const COLUMNS = 7;
const form = document.getElementById("room-filters");
const tbody = document.querySelector("#rooms-table tbody");
const deleteModal = document.getElementById("delete-room-modal");
const membersModal = document.getElementById("members-modal");
let pendingDelete = null;

function query(page, perPage) {
  const params = new URLSearchParams({ page, per_page: perPage });
  const q = form.elements.q.value.trim();
  if (q) params.set("q", q);
  if (form.elements.status.value) params.set("status", form.elements.status.value);
  return `/admin/rooms?${params}`;
}

function kindBadge(room) {
  const isPrivate = room.kind === "private";
  const icon = el("i", { className: `bi ${isPrivate ? "bi-lock" : "bi-globe"}`, "aria-hidden": "true" });
  const node = badge(` ${room.kind}`, isPrivate ? "text-bg-warning" : "text-bg-light border");
  node.prepend(icon);
  return node;
}

function statusBadge(room) {
  return room.is_active ? badge("Open", "text-bg-success") : badge("Closed", "text-bg-secondary");
}

function ownersCell(room) {
  if (room.owners.length === 0) return el("td", { className: "text-body-secondary" }, "—");
  const names = room.owners.map((owner) => owner.name).join(", ");
  const owners = el("span", { className: "d-inline-flex align-items-center gap-2" });
  owners.append(avatar(room.owners[0], "xs"), names);
  return el("td", {}, owners);
}

async function setActive(room, active, button) {
  button.disabled = true;
  try {
    await api("POST", `/rooms/${room.id}/${active ? "reopen" : "close"}`);
    toast(`${room.name} is ${active ? "open again" : "closed"}.`, "success");
  } catch (error) {
    toastError(error);
  }
  button.disabled = false;
  list.refresh();
}

function actions(room) {
  const name = room.name;
  const members = actionButton("Members", "bi-people", "secondary", `Members of ${name}`, () =>
    showMembers(room));
  const toggle = room.is_active
    ? actionButton("Close", "bi-door-closed", "warning", `Close ${name}`, (b) => setActive(room, false, b))
    : actionButton("Reopen", "bi-door-open", "success", `Reopen ${name}`, (b) => setActive(room, true, b));
  const remove = actionButton("Delete", "bi-trash", "danger", `Delete ${name}`, () => askDelete(room));
  const group = el("div", { className: "btn-group", role: "group", "aria-label": `Actions for ${name}` });
  group.append(members, toggle, remove);
  return el("td", { className: "admin-actions" }, group);
}

function row(room) {
  const name = el("td", { className: "admin-name" }, el("span", { className: "fw-semibold" }, room.name));
  if (room.description) {
    name.append(el("div", { className: "small text-body-secondary text-truncate" }, room.description));
  }
  const created = el("time", { datetime: room.created_at }, shortDate(room.created_at));
  const cells = [
    name,
    el("td", {}, kindBadge(room)),
    ownersCell(room),
    el("td", { className: "text-end" }, String(room.member_count)),
    el("td", {}, statusBadge(room)),
    el("td", {}, created),
    actions(room),
  ];
  return el("tr", { dataset: { roomId: room.id } }, ...cells);
}

function render(rooms) {
  if (rooms.length === 0) messageRow(tbody, COLUMNS, "No rooms match.");
  else tbody.replaceChildren(...rooms.map(row));
}

const list = pagedList({
  pager: document.getElementById("rooms-pager"),
  load: async (page, perPage) => {
    const { rooms, total } = await api("GET", query(page, perPage));
    return { items: rooms, total };
  },
  render,
  onError: () => messageRow(tbody, COLUMNS, "The rooms could not be loaded.", "text-danger"),
});

function askDelete(room) {
  pendingDelete = room;
  document.getElementById("delete-room-name").textContent = room.name;
  window.bootstrap.Modal.getOrCreateInstance(deleteModal).show();
}

async function confirmDelete(button) {
  const room = pendingDelete;
  if (!room) return;
  button.disabled = true;
  try {
    await api("DELETE", `/rooms/${room.id}`);
    toast(`${room.name} was deleted.`, "success");
  } catch (error) {
    toastError(error);
  } finally {
    button.disabled = false;
    pendingDelete = null;
    window.bootstrap.Modal.getOrCreateInstance(deleteModal).hide();
  }
  list.refresh();
}

function memberItem(member) {
  const role = member.role === "owner"
    ? badge("Owner", "text-bg-primary")
    : badge("Member", "text-bg-light border");
  const item = el("li", {
    className: "list-group-item d-flex align-items-center gap-2",
    dataset: { userId: member.user.id },
  });
  item.append(
    avatar(member.user, "md"),
    el("span", { className: "flex-grow-1 text-break" }, member.user.name),
    role,
    onlineLabel(member.user.online),
  );
  return item;
}

const membersLoad = newestOnly(); // the dialog shows the room asked for last

async function showMembers(room) {
  const items = document.getElementById("members-list");
  document.getElementById("members-title").textContent = `Members of ${room.name}`;
  items.replaceChildren(el("li", { className: "list-group-item text-body-secondary" }, "Loading…"));
  window.bootstrap.Modal.getOrCreateInstance(membersModal).show();
  const isNewest = membersLoad();
  try {
    const { members } = await api("GET", `/rooms/${room.id}/members`);
    if (!isNewest()) return; // another room's members were asked for since
    const nobody = el("li", { className: "list-group-item" }, "No members.");
    items.replaceChildren(...(members.length ? members.map(memberItem) : [nobody]));
  } catch (error) {
    if (isNewest()) items.replaceChildren(el("li", { className: "list-group-item text-danger" }, error.message));
  }
}

/** Wire the filters and the delete confirmation, then load the first page. */
export function start() {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    list.reset();
  });
  form.elements.q.addEventListener("input", debounce(() => list.reset()));
  form.elements.status.addEventListener("change", () => list.reset());
  const confirm = document.getElementById("delete-room-confirm");
  confirm.addEventListener("click", () => confirmDelete(confirm));
  messageRow(tbody, COLUMNS, "Loading…");
  list.reset();
}

start();
