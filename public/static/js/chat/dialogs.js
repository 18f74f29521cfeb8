// A Bootstrap confirm dialog (window.confirm blocks the page and cannot be styled).

/** Ask before something irreversible; resolves true when the user confirms. */
export function confirmDialog({ title, text, action = "Delete" }) {
  const modal = document.getElementById("confirm-modal");
  const ok = document.getElementById("confirm-ok");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  ok.textContent = action;
  const dialog = window.bootstrap.Modal.getOrCreateInstance(modal);
  return new Promise((resolve) => {
    let shown = false;
    let settled = false;
    const settle = (answer) => {
      if (settled) return;
      settled = true;
      ok.removeEventListener("click", accept);
      resolve(answer);
    };
    // Bootstrap ignores hide() while the dialog is still fading in: hide once it is shown.
    const accept = () => {
      settle(true);
      if (shown) dialog.hide();
    };
    ok.addEventListener("click", accept);
    modal.addEventListener("shown.bs.modal", () => {
      shown = true;
      if (settled) dialog.hide();
      else ok.focus();
    }, { once: true });
    modal.addEventListener("hidden.bs.modal", () => settle(false), { once: true });
    dialog.show();
  });
}
