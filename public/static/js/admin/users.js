// /admin/users: every account page by page, searched by name or email as you type; promote or
// demote, deactivate or reactivate. Refusals (such as demoting the last admin) become toasts.
import { api } from "../api.js";
import { avatar, currentUser, el, toast } from "../ui.js";
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

const COLUMNS = 8;
const form = document.getElementById("user-filters");
const tbody = document.querySelector("#users-table tbody");
const me = currentUser();

function afterOwnChange(user) {
  // Demoting or deactivating yourself ends your access to this page.
  if (!user.is_active) window.location.assign("/login");
  else if (user.role !== "admin") window.location.assign("/");
}

async function update(user, change, done, button) {
  button.disabled = true;
  let updated;
  try {
    ({ user: updated } = await api("PATCH", `/users/${user.id}`, change));
  } catch (error) {
    toastError(error);
    button.disabled = false;
    return;
  }
  toast(`${updated.name} ${done}.`, "success");
  if (updated.id === me?.id) {
    afterOwnChange(updated);
    return;
  }
  list.refresh();
}

function roleButton(user) {
  if (user.role === "admin") {
    return actionButton("Demote", "bi-arrow-down-circle", "secondary", `Demote ${user.name} to member`,
      (button) => update(user, { role: "member" }, "is a member now", button));
  }
  return actionButton("Promote", "bi-arrow-up-circle", "primary", `Promote ${user.name} to admin`,
    (button) => update(user, { role: "admin" }, "is an admin now", button));
}

function activityButton(user) {
  if (user.is_active) {
    return actionButton("Deactivate", "bi-person-slash", "danger", `Deactivate ${user.name}`,
      (button) => update(user, { is_active: false }, "was deactivated", button));
  }
  return actionButton("Reactivate", "bi-person-check", "success", `Reactivate ${user.name}`,
    (button) => update(user, { is_active: true }, "was reactivated", button));
}

function actions(user) {
  const label = `Actions for ${user.name}`;
  const group = el("div", { className: "btn-group", role: "group", "aria-label": label });
  group.append(roleButton(user), activityButton(user));
  return el("td", { className: "admin-actions" }, group);
}

function row(user) {
  const name = el("td", { className: "admin-name" }, user.name);
  if (user.id === me?.id) name.append(" ", badge("you", "text-bg-info"));
  const role = user.role === "admin"
    ? badge("Admin", "text-bg-primary")
    : badge("Member", "text-bg-light border");
  const status = user.is_active
    ? badge("Active", "text-bg-success")
    : badge("Deactivated", "text-bg-secondary");
  const cells = [
    el("td", {}, avatar(user, "sm")),
    name,
    el("td", {}, user.email),
    el("td", {}, role),
    el("td", {}, status),
    el("td", {}, onlineLabel(user.online)),
    el("td", {}, el("time", { datetime: user.created_at }, shortDate(user.created_at))),
    actions(user),
  ];
  return el("tr", { dataset: { userId: user.id } }, ...cells);
}

function render(users) {
  if (users.length === 0) messageRow(tbody, COLUMNS, "No users match.");
  else tbody.replaceChildren(...users.map(row));
}

const list = pagedList({
  pager: document.getElementById("users-pager"),
  load: async (page, perPage) => {
    const params = new URLSearchParams({ page, per_page: perPage });
    const q = form.elements.q.value.trim();
    if (q) params.set("q", q);
    // api() asks for JSON: the same path answers the page itself to a browser navigating there.
    const { users, total } = await api("GET", `/admin/users?${params}`);
    return { items: users, total };
  },
  render,
  onError: () => messageRow(tbody, COLUMNS, "The users could not be loaded.", "text-danger"),
});

/** Wire the search box, then load the first page. */
export function start() {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    list.reset();
  });
  form.elements.q.addEventListener("input", debounce(() => list.reset()));
  messageRow(tbody, COLUMNS, "Loading…");
  list.reset();
}

start();
