// An invite link: show the private room the code opens (GET /invites/<code>), then join it
// (POST /rooms/<id>/join with the code) and open it in the chat.
import { api } from "./api.js";
import { el } from "./ui.js";

const box = document.getElementById("invite");
const code = box.dataset.code;
const CLOSED = "This room is closed: it takes no new members.";

function show(...content) {
  box.replaceChildren(...content);
  box.setAttribute("aria-busy", "false");
}

/** The invite does not open anything (unknown code, or rotated since it was shared). */
function showInvalid() {
  show(
    el("h1", { className: "h4", id: "invite-invalid" }, "This invite is no longer valid"),
    el("p", { className: "text-body-secondary" }, "Ask someone in the room for a new invite link."),
    el("a", { className: "btn btn-primary", href: "/" }, "Go to the chat"),
  );
}

function showProblem(message) {
  const alert = box.querySelector("[data-invite-error]");
  if (alert) {
    alert.textContent = message;
    alert.classList.remove("d-none");
  } else {
    show(el("div", { className: "alert alert-danger mb-0", role: "alert" }, message));
  }
}

async function join(room, button) {
  button.disabled = true;
  try {
    await api("POST", `/rooms/${room.id}/join`, { invite_code: code });
  } catch (error) {
    button.disabled = false;
    if (error.status === 404 || error.code === "invalid_invite_code") showInvalid();
    else showProblem(error.message);
    return;
  }
  window.location.assign(`/?room=${room.id}`);
}

function joinButton(room) {
  if (room.is_member) {
    return el("a", { className: "btn btn-primary", href: `/?room=${room.id}` }, "Open the room");
  }
  const button = el("button", { type: "button", className: "btn btn-primary" }, "Join the room");
  button.addEventListener("click", () => join(room, button));
  return button;
}

function showRoom(room) {
  const members = room.member_count === 1 ? "1 member" : `${room.member_count} members`;
  show(
    el("p", { className: "text-body-secondary mb-1" }, "You are invited to the private room"),
    el("h1", { className: "h4 text-break", id: "invite-room-name" }, room.name),
    room.description
      ? el("p", { className: "text-break", id: "invite-room-description" }, room.description)
      : null,
    el(
      "p",
      { className: "text-body-secondary small", id: "invite-room-members" },
      el("i", { className: "bi bi-people", "aria-hidden": "true" }),
      ` ${members}`,
    ),
    el("div", { className: "alert alert-danger d-none", role: "alert", dataset: { inviteError: "" } }),
    room.is_active ? joinButton(room) : el("div", { className: "alert alert-warning mb-0" }, CLOSED),
  );
}

async function load() {
  try {
    const { room } = await api("GET", `/invites/${encodeURIComponent(code)}`);
    showRoom(room);
  } catch (error) {
    if (error.status === 404) showInvalid();
    else showProblem(error.message);
  }
}

load();
