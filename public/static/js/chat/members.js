// The members column: who is in the open room, online dots from presence events, and a direct
// message to anyone by clicking their name.
import { avatar, el } from "../ui.js";
import { state } from "./store.js";

let onPick = () => {};

/** An avatar with a presence dot (green online, grey offline) and its text for screen readers. */
export function avatarWithPresence(user, size = "sm") {
  const online = state.online.has(user.id);
  return el("span", { className: "presence-wrap", dataset: { presenceOf: user.id } },
    avatar(user, size),
    el("span", { className: `presence-dot${online ? " is-online" : ""}`, title: online ? "Online" : "Offline" },
      el("span", { className: "visually-hidden" }, online ? "online" : "offline")));
}

/** Update every presence dot of a user on the page. */
export function refreshPresence(userId) {
  const online = state.online.has(userId);
  for (const wrap of document.querySelectorAll(`[data-presence-of="${userId}"]`)) {
    const dot = wrap.querySelector(".presence-dot");
    dot.classList.toggle("is-online", online);
    dot.title = online ? "Online" : "Offline";
    dot.firstElementChild.textContent = online ? "online" : "offline";
  }
  if (state.members.some((member) => member.user.id === userId)) renderMembers(); // online first
}

function sortKey(member) {
  return [state.online.has(member.user.id) ? 0 : 1, member.user.name.toLocaleLowerCase()];
}

function compare(a, b) {
  const [onlineA, nameA] = sortKey(a);
  const [onlineB, nameB] = sortKey(b);
  return onlineA - onlineB || nameA.localeCompare(nameB);
}

function memberItem(member) {
  const { user } = member;
  const me = user.id === state.me.id;
  const you = me ? el("span", { className: "text-body-secondary" }, " (you)") : null;
  const label = el("span", { className: "member-name" }, user.name, you);
  const owner = member.role === "owner";
  const role = owner ? el("span", { className: "badge text-bg-light border member-role" }, "owner") : null;
  const content = [avatarWithPresence(user), label, role];
  const online = String(state.online.has(user.id));
  const item = el("li", { className: "member", dataset: { userId: user.id, online } });
  if (me) {
    item.append(el("div", { className: "member-row" }, ...content));
  } else {
    const attributes = { type: "button", className: "member-row member-button", title: `Message ${user.name}` };
    const hint = el("span", { className: "visually-hidden" }, ": send a direct message");
    const button = el("button", attributes, ...content, hint);
    button.addEventListener("click", () => onPick(user));
    item.append(button);
  }
  return item;
}

/** Draw the open room's members, online first. */
export function renderMembers() {
  const members = [...state.members].sort(compare);
  document.getElementById("member-list").replaceChildren(...members.map(memberItem));
  const count = members.length ? String(members.length) : "";
  document.getElementById("member-count").textContent = count ? `(${count})` : "";
  document.getElementById("members-toggle-count").textContent = count;
}

/** Add or drop a member of the open room (user_joined / user_left). */
export function updateMember(user, joined) {
  state.members = state.members.filter((member) => member.user.id !== user.id);
  if (joined) state.members.push({ user, role: "member", joined_at: new Date().toISOString() });
  renderMembers();
}

/** Wire what happens when a member's name is clicked. */
export function initMembers(pick) {
  onPick = pick;
}
