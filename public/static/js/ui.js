// DOM helpers shared by every page. User content only ever becomes text nodes or attribute
// values: nothing here assigns innerHTML.

const DEFAULT_AVATAR = "/static/img/avatar.svg";
const LINK = /\bhttps?:\/\/[^\s<>"']+/g;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}'"]+$/;

/** el("a", {href, className: "x", dataset: {id: 1}}, "text", child): an element with text-only children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

/** Message text as nodes: plain text, with http(s) links made clickable (opened in a new tab). */
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    let url = match[0];
    const trailing = url.match(TRAILING_PUNCTUATION)?.[0] || "";
    url = url.slice(0, url.length - trailing.length);
    fragment.append(text.slice(last, match.index));
    fragment.append(el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow" }, url));
    last = match.index + url.length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

/** A user's avatar image (the default picture when they have none). */
export function avatar(user, size = "sm") {
  return el("img", {
    className: `avatar avatar-${size}`,
    src: user?.avatar_url || DEFAULT_AVATAR,
    alt: "",
    loading: "lazy",
  });
}

/** Show a Bootstrap toast; variant is a contextual colour (success, danger, warning, info). */
export function toast(message, variant = "secondary", { title = null, delay = 6000 } = {}) {
  const body = el("div", { className: "toast-body" }, title ? el("strong", {}, title, " ") : null, message);
  const close = el("button", {
    type: "button",
    className: "btn-close btn-close-white me-2 m-auto",
    "data-bs-dismiss": "toast",
    "aria-label": "Close",
  });
  const content = el("div", { className: "d-flex" }, body, close);
  const node = el("div", {
    className: `toast align-items-center text-bg-${variant} border-0`,
    role: variant === "danger" ? "alert" : "status",
    "aria-live": variant === "danger" ? "assertive" : "polite",
    "aria-atomic": "true",
  }, content);
  document.getElementById("toasts").append(node);
  node.addEventListener("hidden.bs.toast", () => node.remove());
  new window.bootstrap.Toast(node, { delay }).show();
  return node;
}

/** Copy an input's value; without a clipboard (plain HTTP) select it so Ctrl+C copies it. */
export async function copyField(input, copiedMessage) {
  try {
    await navigator.clipboard.writeText(input.value);
    toast(copiedMessage, "success");
  } catch {
    input.focus();
    input.select();
    toast("Press Ctrl+C (⌘C) to copy the selected text.", "info");
  }
}

/**
 * Enable the buttons that open a dialog, once its script has wired it. They start disabled in
 * the template: a click that beat the module scripts would open a dialog with nothing behind it
 * (an empty Browse list, a form that submits the page).
 */
export function enableDialogTriggers(modal) {
  for (const button of document.querySelectorAll(`[data-bs-target="#${modal.id}"]`)) button.disabled = false;
}

/** Clear a form's error marks. */
export function clearErrors(form) {
  form.querySelectorAll(".is-invalid").forEach((input) => input.classList.remove("is-invalid"));
  const banner = form.querySelector("[data-form-error]");
  if (banner) {
    banner.textContent = "";
    banner.classList.add("d-none");
  }
}

/** Show an ApiRequestError on a form: field reasons under their inputs, the message in the banner. */
export function showErrors(form, error) {
  clearErrors(form);
  let placed = false;
  for (const [field, reason] of Object.entries(error.fields || {})) {
    const input = form.elements.namedItem(field);
    if (!input || !input.classList) continue;
    input.classList.add("is-invalid");
    const hint = input.parentElement.querySelector(".invalid-feedback");
    if (hint) hint.textContent = reason;
    placed = true;
  }
  const banner = form.querySelector("[data-form-error]");
  if (banner && (!placed || error.status !== 422)) {
    banner.textContent = error.message; // a 429's message says when to try again
    banner.classList.remove("d-none");
  }
  form.querySelector(".is-invalid")?.focus();
}

/** A form's named fields as an object of trimmed strings (checkboxes as booleans). */
export function formValues(form) {
  const values = {};
  for (const input of form.elements) {
    if (!input.name) continue;
    values[input.name] = input.type === "checkbox" ? input.checked : input.value;
  }
  return values;
}

/** Disable a form's submit button while `work` runs; returns what work returns. */
export async function busy(form, work) {
  const button = form.querySelector('[type="submit"]');
  if (button) button.disabled = true;
  try {
    return await work();
  } finally {
    if (button) button.disabled = false;
  }
}

/** "14:05" today, "Mon 14:05" this week, else a date: how chat apps label messages. */
export function shortTime(iso) {
  const when = new Date(iso);
  const now = new Date();
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (when.toDateString() === now.toDateString()) return time;
  if (now - when < 6 * 86400000) return `${when.toLocaleDateString([], { weekday: "short" })} ${time}`;
  return `${when.toLocaleDateString()} ${time}`;
}

/** The signed-in user from the page ({id, name, role}), or null when signed out. */
export function currentUser() {
  const { userId, userName, userRole } = document.body.dataset;
  return userId ? { id: Number(userId), name: userName, role: userRole } : null;
}
