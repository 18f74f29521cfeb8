// The profile page: name, password, avatar (preview, then an upload with progress) and the
// personal API tokens. The user comes from GET /auth/me; every change goes through the API.
import { api, upload } from "./api.js";
import { localError, onSubmit } from "./auth.js";
import { clearErrors, copyField, el, showErrors, shortTime, toast } from "./ui.js";

const DEFAULT_AVATAR = "/static/img/avatar.svg";
const AVATAR_MAX_BYTES = 5 * 1024 * 1024;
const byId = (id) => document.getElementById(id);

let me = null;

/** Show the user everywhere the page and the navbar name or picture them. */
function showUser(user) {
  me = user;
  const picture = user.avatar_url || DEFAULT_AVATAR;
  byId("profile-avatar").src = picture;
  byId("profile-heading").textContent = user.name;
  byId("profile-email").textContent = user.email;
  const navAvatar = byId("nav-avatar");
  if (navAvatar) navAvatar.src = picture;
  const navName = byId("nav-user-name");
  if (navName) navName.textContent = user.name;
  document.body.dataset.userName = user.name;
}

function wireName() {
  const form = byId("name-form");
  onSubmit(form, async ({ name }) => {
    const { user } = await api("PUT", "/auth/profile", { name });
    showUser(user);
    form.elements.name.value = user.name;
    toast("Your name is saved.", "success");
  });
}

function wirePassword() {
  const form = byId("password-form");
  onSubmit(form, async ({ current_password: currentPassword, password, confirm }) => {
    if (password !== confirm) throw localError({ confirm: "The two new passwords are not the same." });
    await api("PUT", "/auth/profile", { current_password: currentPassword, password });
    form.reset();
    toast("Your password is changed; your other sessions are signed out.", "success");
  });
}

// == Avatar ==================================================================================

// fraction null hides the bar; 0..1 shows it filled that far.
function setProgress(fraction, label = null) {
  const box = byId("avatar-progress");
  const bar = byId("avatar-progress-bar");
  box.classList.toggle("d-none", fraction === null);
  const percent = Math.round((fraction || 0) * 100);
  box.setAttribute("aria-valuenow", String(percent));
  bar.style.width = `${percent}%`;
  bar.textContent = label || `${percent}%`;
}

function showPreview(file) {
  const box = byId("avatar-preview-box");
  const preview = byId("avatar-preview");
  if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
  preview.removeAttribute("src");
  box.classList.add("d-none");
  if (file && file.type.startsWith("image/")) {
    preview.src = URL.createObjectURL(file);
    box.classList.remove("d-none");
  }
}

// The checks the server makes too, done first so a too-large file is not sent at all.
function checkFile(file) {
  if (!file) return localError({ file: "Choose a picture first." });
  if (file.size > AVATAR_MAX_BYTES) return localError({ file: "The picture is larger than 5 MiB." });
  return null;
}

async function saveAvatar(form) {
  const file = form.elements.file.files[0];
  const problem = checkFile(file);
  if (problem) throw problem;
  const data = new FormData();
  data.append("file", file);
  setProgress(0);
  try {
    const { user } = await upload("/auth/profile/upload", data, setProgress);
    setProgress(1, "Saved");
    showUser(user);
    showPreview(null);
    form.elements.file.value = "";
    toast("Your new avatar is saved.", "success");
  } catch (error) {
    setProgress(null);
    throw error;
  }
}

function wireAvatar() {
  const form = byId("avatar-form");
  const input = form.elements.file;
  const save = byId("avatar-save");
  input.addEventListener("change", () => {
    clearErrors(form);
    setProgress(null);
    showPreview(input.files[0]);
    save.disabled = !input.files.length;
  });
  // A file that claims to be an image but is not: no preview; the server will say why.
  byId("avatar-preview").addEventListener("error", () => byId("avatar-preview-box").classList.add("d-none"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    save.disabled = true;
    try {
      await saveAvatar(form);
    } catch (error) {
      showErrors(form, error);
    } finally {
      save.disabled = !input.files.length;
    }
  });
}

// == API tokens ==============================================================================

function describeToken(token) {
  const used = token.last_used_at ? `last used ${shortTime(token.last_used_at)}` : "never used";
  return `created ${shortTime(token.created_at)} · ${used}`;
}

function updateEmptyState() {
  byId("token-empty").classList.toggle("d-none", byId("token-list").children.length > 0);
}

// Revoke a token and drop it from the list (a 404 means it is gone already); false on failure.
async function revoke(token, item) {
  try {
    await api("DELETE", `/auth/tokens/${token.id}`);
  } catch (error) {
    if (error.status !== 404) {
      toast(error.message, "danger");
      return false;
    }
  }
  item.remove();
  updateEmptyState();
  byId("token-name").focus();
  toast(`The token “${token.name}” is revoked.`, "success");
  return true;
}

// Revoking asks once more, in place: scripts using the token stop working at once.
function askToRevoke(token, item, actions) {
  const yes = el("button", {
    type: "button",
    className: "btn btn-sm btn-danger",
    "aria-label": `Yes, revoke the token ${token.name}`,
  }, "Yes, revoke");
  const no = el("button", { type: "button", className: "btn btn-sm btn-outline-secondary" }, "Keep it");
  const initial = [...actions.childNodes];
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    if (!(await revoke(token, item))) yes.disabled = false;
  });
  no.addEventListener("click", () => {
    actions.replaceChildren(...initial);
    actions.querySelector("button").focus();
  });
  actions.replaceChildren(el("span", { className: "small me-1" }, "Revoke it?"), yes, no);
  no.focus();
}

function tokenItem(token) {
  const revokeButton = el("button", {
    type: "button",
    className: "btn btn-sm btn-outline-danger",
    "aria-label": `Revoke the token ${token.name}`,
  }, "Revoke");
  const actions = el("div", { className: "d-flex align-items-center gap-1 flex-shrink-0" }, revokeButton);
  const about = el(
    "div",
    {},
    el("div", { className: "fw-semibold text-break" }, token.name),
    el("div", { className: "small text-body-secondary" }, describeToken(token)),
  );
  const item = el("li", {
    className: "list-group-item d-flex align-items-center justify-content-between gap-2",
    dataset: { tokenId: token.id },
  }, about, actions);
  revokeButton.addEventListener("click", () => askToRevoke(token, item, actions));
  return item;
}

async function loadTokens() {
  const { tokens } = await api("GET", "/auth/tokens");
  byId("token-list").replaceChildren(...tokens.map(tokenItem));
  updateEmptyState();
}

// The secret is in the answer to the creation only: show it now, with a copy button.
function showSecret(created) {
  const input = el("input", {
    className: "form-control font-monospace",
    id: "token-secret",
    readonly: true,
    value: created.token,
    "aria-label": "The new token",
  });
  const copy = el(
    "button",
    { type: "button", className: "btn btn-outline-secondary", id: "token-copy" },
    el("i", { className: "bi bi-clipboard", "aria-hidden": "true" }),
    " Copy",
  );
  const close = el("button", { type: "button", className: "btn-close", "aria-label": "Hide the token" });
  const note = `Your token “${created.name}”. Copy it now: it is shown only this once.`;
  const box = el(
    "div",
    { className: "alert alert-warning", id: "token-secret-box" },
    el(
      "div",
      { className: "d-flex justify-content-between align-items-start mb-2" },
      el("p", { className: "mb-0" }, note),
      close,
    ),
    el("div", { className: "input-group" }, input, copy),
  );
  copy.addEventListener("click", () => copyField(input, "The token is copied."));
  close.addEventListener("click", () => box.remove());
  byId("token-created").replaceChildren(box);
  input.select();
}

function wireTokens() {
  const form = byId("token-form");
  onSubmit(form, async ({ name, password }) => {
    let created;
    try {
      created = await api("POST", "/auth/tokens", { email: me.email, password, name });
    } catch (error) {
      if (error.status === 401) throw localError({ password: "That is not your password." }, error.message);
      throw error;
    }
    form.reset();
    showSecret(created);
    byId("token-list").append(tokenItem(created));
    updateEmptyState();
  });
}

// == Start ===================================================================================

async function start() {
  const root = byId("profile");
  try {
    const { user } = await api("GET", "/auth/me");
    showUser(user);
    byId("profile-name").value = user.name;
    await loadTokens();
  } catch (error) {
    if (error.status === 401) {
      window.location.assign("/login?next=/profile");
      return;
    }
    const banner = byId("profile-load-error");
    banner.textContent = `The profile could not be loaded: ${error.message}`;
    banner.classList.remove("d-none");
    return;
  } finally {
    root.setAttribute("aria-busy", "false");
  }
  for (const fieldset of document.querySelectorAll("[data-needs-user]")) fieldset.disabled = false;
}

wireName();
wirePassword();
wireAvatar();
wireTokens();
start();
