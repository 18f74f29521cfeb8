// What the admin tables share: numbered pages (Previous/Next and "x–y of total"), a debounced
// search box, and the placeholder rows shown while loading, when empty and on errors.
import { newestOnly } from "../api.js";
import { el, toast } from "../ui.js";

export const PER_PAGE = 25;

/** Call fn once input has paused for `wait` ms (search boxes). */
export function debounce(fn, wait = 300) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

/** A date as the tables show it ("21 Nov 2026" in en-GB). */
export function shortDate(iso) {
  return new Date(iso).toLocaleDateString([], { day: "numeric", month: "short", year: "numeric" });
}

/** Replace a table body's rows with one full-width row of text (loading, empty, error). */
export function messageRow(tbody, columns, text, className = "text-body-secondary") {
  const cell = el("td", { colspan: columns, className: `text-center py-4 ${className}` }, text);
  tbody.replaceChildren(el("tr", { dataset: { placeholder: "" } }, cell));
}

/** The "x–y of total" label of a page, "0 of 0" when there is nothing. */
export function rangeLabel(page, perPage, shown, total) {
  if (total === 0 || shown === 0) return `0 of ${total}`;
  const first = (page - 1) * perPage + 1;
  return `${first}–${first + shown - 1} of ${total}`;
}

function pagerControls(root, onMove) {
  const label = el("span", {
    className: "text-body-secondary small",
    "aria-live": "polite",
    dataset: { range: "" },
  });
  const button = (text, icon, iconFirst) => {
    const glyph = el("i", { className: `bi ${icon}`, "aria-hidden": "true" });
    const parts = iconFirst ? [glyph, ` ${text}`] : [`${text} `, glyph];
    return el("button", { type: "button", className: "btn btn-outline-secondary btn-sm" }, ...parts);
  };
  const previous = button("Previous", "bi-chevron-left", true);
  const next = button("Next", "bi-chevron-right", false);
  previous.addEventListener("click", () => onMove(-1));
  next.addEventListener("click", () => onMove(1));
  const buttons = el("div", { className: "btn-group", role: "group", "aria-label": "Pages" }, previous, next);
  const bar = el("div", { className: "d-flex align-items-center justify-content-between gap-2 flex-wrap" });
  bar.append(label, buttons);
  root.replaceChildren(bar);
  return { label, previous, next };
}

/**
 * A paginated list: load(page, perPage) resolves to {items, total}; render(items) draws them.
 * Returns {refresh(), reset()}: reload this page, or go back to page 1 (after a new search).
 */
export function pagedList({ pager, load, render, onError, perPage = PER_PAGE }) {
  let page = 1;
  const startLoad = newestOnly();
  const controls = pagerControls(pager, (step) => {
    page = Math.max(1, page + step);
    refresh();
  });

  async function refresh() {
    const isNewest = startLoad();
    let answer;
    try {
      answer = await load(page, perPage);
    } catch (error) {
      if (!isNewest()) return;
      toast(error.message, "danger");
      onError?.(error);
      return;
    }
    if (!isNewest()) return; // an older answer arriving after a newer request
    const { items, total } = answer;
    if (items.length === 0 && page > 1 && total > 0) {
      page = Math.ceil(total / perPage); // the last rows of a page went away: show the last page
      refresh();
      return;
    }
    render(items);
    controls.label.textContent = rangeLabel(page, perPage, items.length, total);
    controls.previous.disabled = page <= 1;
    controls.next.disabled = page * perPage >= total;
  }

  return {
    refresh,
    reset() {
      page = 1;
      return refresh();
    },
  };
}

/** Turn an ApiRequestError into a danger toast (the actions' common error path). */
export function toastError(error) {
  toast(error.message, "danger", { title: error.status === 409 ? "Not possible:" : null });
}

/** A small outlined row button: icon and text, an aria-label naming what it acts on. */
export function actionButton(text, icon, variant, label, onClick) {
  const glyph = el("i", { className: `bi ${icon}`, "aria-hidden": "true" });
  const button = el("button", {
    type: "button",
    className: `btn btn-sm btn-outline-${variant}`,
    "aria-label": label,
  }, glyph, ` ${text}`);
  button.addEventListener("click", () => onClick(button));
  return button;
}

/** A Bootstrap badge with text. */
export function badge(text, className) {
  return el("span", { className: `badge ${className}` }, text);
}

/** A presence dot and "Online"/"Offline". */
export function onlineLabel(online) {
  const dot = el("span", { className: `online-dot${online ? " is-online" : ""}`, "aria-hidden": "true" });
  const label = el("span", { className: "d-inline-flex align-items-center gap-1 small" });
  label.append(dot, online ? "Online" : "Offline");
  return label;
}
