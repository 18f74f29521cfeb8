// /admin: the four counts and a bar chart of messages per day (inline SVG built with DOM calls),
// with the same numbers in a visually-hidden table for screen readers.
import { api, newestOnly } from "../api.js";
import { el, toast } from "../ui.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 720;
const HEIGHT = 240;
const MARGIN = { top: 12, right: 8, bottom: 32, left: 48 };

/** An SVG element with attributes (and text children), the SVG twin of ui.el(). */
export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

function dayLabel(date, withYear = false) {
  const options = { day: "numeric", month: "short", timeZone: "UTC" };
  if (withYear) options.year = "numeric";
  return new Date(`${date}T00:00:00Z`).toLocaleDateString([], options);
}

function messagesLabel(count) {
  return count === 1 ? "1 message" : `${count.toLocaleString()} messages`;
}

/** The smallest "round" number (1, 2, 5 × 10^n) at or above value, for the y axis. */
export function niceCeiling(value) {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((factor) => factor * magnitude >= value);
  return step * magnitude;
}

function gridLines(top, plotHeight) {
  const nodes = [];
  for (const fraction of [0, 0.5, 1]) {
    const y = MARGIN.top + plotHeight * (1 - fraction);
    const value = Math.round(top * fraction);
    if (fraction === 0.5 && top < 2) continue; // no half-way line when the top is 1
    nodes.push(svg("line", { class: "chart-grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y, y2: y }));
    const text = { class: "chart-axis", x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" };
    nodes.push(svg("text", text, String(value)));
  }
  return nodes;
}

function bar(day, index, step, top, plotHeight) {
  const height = (day.count / top) * plotHeight;
  const label = `${dayLabel(day.date, true)}: ${messagesLabel(day.count)}`;
  const rect = svg("rect", {
    class: "chart-bar",
    x: MARGIN.left + index * step + step * 0.15,
    y: MARGIN.top + plotHeight - height,
    width: step * 0.7,
    height,
    role: "img",
    "aria-label": label,
    "data-date": day.date,
    "data-count": day.count,
  });
  rect.append(svg("title", {}, label));
  return rect;
}

function dateTicks(days, step) {
  // Every seventh day, counted back from today so that today is always labelled.
  const ticks = [];
  for (let index = days.length - 1; index >= 0; index -= 7) {
    const last = index === days.length - 1; // ends at the right edge instead of overflowing it
    const x = MARGIN.left + index * step + (last ? step : step / 2);
    const text = { class: "chart-axis", x, y: HEIGHT - 8, "text-anchor": last ? "end" : "middle" };
    ticks.push(svg("text", text, dayLabel(days[index].date)));
  }
  return ticks;
}

/** Draw messages_per_day ([{date, count}], oldest first) as an SVG bar chart into container. */
export function drawChart(container, days) {
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const step = (WIDTH - MARGIN.left - MARGIN.right) / Math.max(days.length, 1);
  const top = niceCeiling(Math.max(0, ...days.map((day) => day.count)));
  const total = days.reduce((sum, day) => sum + day.count, 0);
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "group",
    "aria-labelledby": "chart-title",
    "aria-describedby": "chart-summary",
    class: "w-100 h-auto",
  });
  chart.append(...gridLines(top, plotHeight));
  chart.append(...days.map((day, index) => bar(day, index, step, top, plotHeight)));
  chart.append(...dateTicks(days, step));
  container.replaceChildren(chart);
  document.getElementById("chart-summary").textContent =
    `The last ${days.length} days (UTC), today on the right: ${messagesLabel(total)} in all.`;
}

function fillTable(days) {
  const rows = days.map((day) =>
    el("tr", {}, el("th", { scope: "row" }, dayLabel(day.date, true)), el("td", {}, String(day.count))),
  );
  document.querySelector("#chart-table tbody").replaceChildren(...rows);
}

const statsLoad = newestOnly(); // Refresh clicked twice: only the later answer draws

/** Fetch /admin/stats and show it: the cards, the chart and its table. */
export async function loadStats() {
  const cards = document.getElementById("stat-cards");
  cards.setAttribute("aria-busy", "true");
  const isNewest = statsLoad();
  let stats;
  try {
    stats = await api("GET", "/admin/stats");
  } catch (error) {
    if (isNewest()) toast(error.message, "danger");
    return;
  } finally {
    if (isNewest()) cards.setAttribute("aria-busy", "false");
  }
  if (!isNewest()) return; // Refresh was clicked again: the later answer draws
  for (const node of cards.querySelectorAll("[data-stat]")) {
    node.textContent = stats[node.dataset.stat].toLocaleString();
  }
  drawChart(document.getElementById("chart"), stats.messages_per_day);
  fillTable(stats.messages_per_day);
}

document.getElementById("stats-refresh").addEventListener("click", loadStats);
loadStats();
