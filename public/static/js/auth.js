// Sign in, sign up, "forgot my password" and password reset: each page's form posts to the API
// and shows its errors under the fields (or in the form's banner).
import { api } from "./api.js";
import { busy, clearErrors, el, formValues, showErrors } from "./ui.js";

/** An error found in the browser, shaped like the API's so that showErrors can place it. */
export function localError(fields, message = "Check the highlighted fields.") {
  return { status: 422, code: "invalid_input", message, fields };
}

/**
 * Run send(values) when the form is submitted, with the button disabled and errors shown.
 * The submit buttons start disabled in the template and are enabled here: a submission that beat
 * this script would be the browser's own, sending the fields (passwords too) to the page itself.
 */
export function onSubmit(form, send) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await busy(form, () => send(formValues(form)));
    } catch (error) {
      showErrors(form, error);
    }
  });
  for (const button of form.querySelectorAll('[type="submit"]')) button.disabled = false;
}

// Replace a form by a message in its live region, and move the focus there.
function finish(form, region, ...content) {
  form.classList.add("d-none");
  const note = el("div", { className: "alert alert-success mb-0", tabindex: "-1" }, ...content);
  region.replaceChildren(note);
  note.focus();
}

function wireLogin(form) {
  onSubmit(form, async ({ email, password, remember }) => {
    await api("POST", "/auth/login", { email, password, remember });
    window.location.assign(form.dataset.next); // pages._safe_next keeps it on this site
  });
}

function wireRegister(form) {
  onSubmit(form, async ({ name, email, password }) => {
    await api("POST", "/auth/register", { name, email, password });
    window.location.assign(form.dataset.next); // pages._safe_next keeps it on this site
  });
}

function wireForgot(form) {
  onSubmit(form, async ({ email }) => {
    await api("POST", "/auth/password/forgot", { email });
    finish(
      form,
      document.getElementById("forgot-done"),
      "If an account exists for that email, a link is on its way. It works for one hour.",
    );
  });
}

function wireReset(form) {
  onSubmit(form, async ({ password, confirm }) => {
    if (password !== confirm) throw localError({ confirm: "The two passwords are not the same." });
    await api("POST", "/auth/password/reset", { token: form.dataset.token, password });
    finish(
      form,
      document.getElementById("reset-done"),
      "Your password is changed, and every session that was open is signed out. ",
      el("a", { href: "/login", className: "alert-link" }, "Sign in with the new password"),
    );
  });
}

const PAGES = {
  "login-form": wireLogin,
  "register-form": wireRegister,
  "forgot-form": wireForgot,
  "reset-form": wireReset,
};

for (const [id, wire] of Object.entries(PAGES)) {
  const form = document.getElementById(id);
  if (form) wire(form);
}
