// /admin/feedback: feedback page by page, filtered by status (New first); opening a new item
// marks it read, and the buttons mark it read, archive it or mark it new again. Every change
// refreshes the navbar's new-feedback badge.
import { api } from "../api.js";
import { refreshFeedbackCount } from "../base.js";
import { el, shortTime, toast } from "../ui.js";
import { pagedList, toastError } from "./table.js";

const STATUS_LABELS = { new: "New", read: "Read", archived: "Archived" };
const STATUS_BADGES = { new: "text-bg-primary", read: "text-bg-light border", archived: "text-bg-secondary" };
const listNode = document.getElementById("feedback-list");
const filter = document.getElementById("feedback-filter");
const shown = new Map(); // id -> item, for the items of the current page
let selected = null;

function statusBadge(status, node = el("span")) {
  node.className = `badge ${STATUS_BADGES[status]}`;
  node.textContent = STATUS_LABELS[status];
  return node;
}

function currentStatus() {
  return filter.querySelector("input:checked")?.value || "";
}

function listItem(item) {
  const button = el("button", {
    type: "button",
    className: `list-group-item list-group-item-action${item.status === "new" ? " feedback-new" : ""}`,
    dataset: { feedbackId: item.id },
    "aria-current": selected?.id === item.id ? "true" : null,
  },
  el("div", { className: "d-flex justify-content-between gap-2" },
    el("span", { className: "feedback-subject text-truncate" }, item.subject),
    statusBadge(item.status)),
  el("div", { className: "small text-body-secondary d-flex justify-content-between gap-2" },
    el("span", { className: "text-truncate" }, item.name),
    el("time", { datetime: item.created_at }, shortTime(item.created_at))));
  if (selected?.id === item.id) button.classList.add("active");
  button.addEventListener("click", () => openItem(item.id));
  return button;
}

function render(items) {
  shown.clear();
  for (const item of items) shown.set(item.id, item);
  if (items.length === 0) {
    const label = STATUS_LABELS[currentStatus()];
    listNode.replaceChildren(el("p", { className: "list-group-item text-body-secondary mb-0" },
      label ? `No ${label.toLowerCase()} feedback.` : "No feedback yet."));
    return;
  }
  listNode.replaceChildren(...items.map(listItem));
}

function redrawItem(item) {
  const old = listNode.querySelector(`[data-feedback-id="${item.id}"]`);
  if (old) old.replaceWith(listItem(item));
}

function showDetail(item) {
  document.getElementById("feedback-empty").classList.add("d-none");
  document.getElementById("feedback-content").classList.remove("d-none");
  document.getElementById("reader-subject").textContent = item.subject;
  document.getElementById("reader-from").textContent = item.name;
  const email = document.getElementById("reader-email");
  email.textContent = item.email;
  email.href = `mailto:${item.email}`;
  const time = document.getElementById("reader-time");
  time.dateTime = item.created_at;
  time.textContent = new Date(item.created_at).toLocaleString();
  document.getElementById("reader-message").textContent = item.message;
  statusBadge(item.status, document.getElementById("reader-status"));
  for (const button of document.querySelectorAll("[data-set-status]")) {
    button.disabled = button.dataset.setStatus === item.status;
  }
}

// Status changes go out one at a time, in click order: opening a new item sends "read", and an
// Archive clicked before that answer arrives must not be overtaken by it on the server.
let lastChange = Promise.resolve();

function changeStatus(item, status) {
  const change = lastChange.catch(() => {}).then(async () => {
    const { feedback } = await api("PATCH", `/feedback/${item.id}`, { status });
    Object.assign(item, feedback);
    refreshFeedbackCount();
    return item;
  });
  lastChange = change;
  return change;
}

/** Open an item in the reader; a new one is marked read (it stays in the list until it reloads). */
export async function openItem(id) {
  const item = shown.get(id);
  if (!item) return;
  const previous = selected;
  selected = item;
  if (previous && shown.has(previous.id)) redrawItem(previous);
  redrawItem(item);
  showDetail(item);
  if (item.status !== "new") return;
  try {
    await changeStatus(item, "read");
  } catch (error) {
    toastError(error);
    return;
  }
  redrawItem(item);
  if (selected === item) showDetail(item);
}

async function setStatus(status, button) {
  if (!selected) return;
  const item = selected;
  button.disabled = true;
  try {
    await changeStatus(item, status);
  } catch (error) {
    toastError(error);
    button.disabled = false;
    return;
  }
  showDetail(item);
  toast(`Marked ${STATUS_LABELS[status].toLowerCase()}.`, "success", { delay: 3000 });
  list.refresh(); // the item leaves a list filtered by its old status
}

const list = pagedList({
  pager: document.getElementById("feedback-pager"),
  load: async (page, perPage) => {
    const params = new URLSearchParams({ page, per_page: perPage });
    if (currentStatus()) params.set("status", currentStatus());
    const { feedback, total } = await api("GET", `/feedback?${params}`);
    return { items: feedback, total };
  },
  render,
  onError: () => {
    const text = "The feedback could not be loaded.";
    const note = el("p", { className: "list-group-item text-danger mb-0" }, text);
    listNode.replaceChildren(note);
  },
});

filter.addEventListener("change", () => list.reset());
for (const button of document.querySelectorAll("[data-set-status]")) {
  button.addEventListener("click", () => setStatus(button.dataset.setStatus, button));
}
list.reset();
