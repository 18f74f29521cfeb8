// Runs on every page: the feedback modal, signing out, and the admin's new-feedback count.
import { api, newestOnly } from "./api.js";
import { busy, clearErrors, currentUser, enableDialogTriggers, formValues, showErrors, toast } from "./ui.js";

function wireFeedback() {
  const form = document.getElementById("feedback-form");
  const modal = document.getElementById("feedback-modal");
  modal.addEventListener("shown.bs.modal", () => form.querySelector("input, textarea").focus());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await busy(form, () => api("POST", "/feedback", formValues(form)));
    } catch (error) {
      showErrors(form, error);
      return;
    }
    form.reset();
    window.bootstrap.Modal.getOrCreateInstance(modal).hide();
    toast("Thank you: your feedback was sent.", "success");
  });
  enableDialogTriggers(modal);
}

function wireSignOut() {
  for (const button of document.querySelectorAll("[data-sign-out]")) {
    button.addEventListener("click", async () => {
      try {
        await api("POST", "/auth/logout", { everywhere: button.dataset.signOut === "everywhere" });
      } catch (error) {
        if (error.status !== 401) {
          toast(error.message, "danger");
          return;
        }
      }
      window.location.assign("/login");
    });
  }
}

const feedbackCount = newestOnly(); // the page's first count may answer after a later one

/** Show how many feedback items are new on the navbar's Admin button. */
export async function refreshFeedbackCount() {
  const badge = document.getElementById("nav-feedback-count");
  if (!badge) return;
  const isNewest = feedbackCount();
  try {
    const { total } = await api("GET", "/feedback?status=new&per_page=1");
    if (!isNewest()) return;
    badge.textContent = total > 99 ? "99+" : String(total);
    badge.classList.toggle("d-none", total === 0);
  } catch {
    if (isNewest()) badge.classList.add("d-none");
  }
}

wireFeedback();
if (currentUser()) wireSignOut();
refreshFeedbackCount();
