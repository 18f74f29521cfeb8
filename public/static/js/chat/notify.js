// The tab's title and favicon: "(N) " and a red dot while the tab is hidden and messages arrive.

const PLAIN_ICON = "/static/img/favicon.svg";
const UNREAD_ICON = "/static/img/favicon-unread.svg";

let baseTitle = document.title;
let unseen = 0;

function render() {
  document.title = unseen > 0 ? `(${unseen}) ${baseTitle}` : baseTitle;
  const icon = document.getElementById("favicon");
  if (icon) icon.setAttribute("href", unseen > 0 ? UNREAD_ICON : PLAIN_ICON);
}

/** Whether the user can see the page right now. */
export function tabVisible() {
  return document.visibilityState !== "hidden";
}

/** Set the title without the unread prefix (the open room's name). */
export function setBaseTitle(title) {
  baseTitle = title;
  render();
}

/** Count a message from someone else that arrived while the tab is hidden. */
export function noteUnseen() {
  if (tabVisible()) return;
  unseen += 1;
  render();
}

/** Call onVisible whenever the tab becomes visible again, after clearing the count. */
export function watchVisibility(onVisible) {
  document.addEventListener("visibilitychange", () => {
    if (!tabVisible()) return;
    unseen = 0;
    render();
    onVisible();
  });
}
