// Alert episodes of the last 30 days: open ones first, then the newest. Each alert event pushed live
// (open, update, close) reloads the list, so an episode appears, grows and closes as it happens.
import { datastreamLink, el, formatTime, formatValue, getJSON, liveQuery, subscribe } from "../lib.js";

const DAYS = 30;
const SHOWN = 200;

export async function alerts(main) {
  const box = el("div", { class: "panel", id: "alerts" });
  const summary = el("p", { class: "muted", id: "alerts-summary" });
  main.append(el("h1", {}, "Alerts"), summary, box);
  let pending = null;
  const load = async () => {
    const from = new Date(Date.now() - DAYS * 86_400_000).toISOString();
    const episodes = await getJSON("/api/v1/alerts", { from });
    episodes.sort((a, b) => (a.state === b.state ? b.start.localeCompare(a.start) : a.state === "open" ? -1 : 1));
    const open = episodes.filter((e) => e.state === "open").length;
    summary.textContent = `${open} open, ${episodes.length - open} closed in the last ${DAYS} days`;
    box.replaceChildren(episodes.length ? table(episodes.slice(0, SHOWN)) : el("span", { class: "muted" }, "none"));
  };
  await load();
  const close = subscribe(liveQuery(["*"]), (events) => {
    if (!events.some((e) => e.type === "alert") || pending) return;
    pending = setTimeout(() => { pending = null; load().catch(() => {}); }, 300); // one reload per burst
  });
  return () => { close(); clearTimeout(pending); };
}

function table(episodes) {
  const headings = ["state", "rule", "datastream", "start", "duration", "max", "avg", "threshold", "closed at"];
  return el("table", {},
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...episodes.map(row)));
}

function row(e) {
  const number = (v) => (v === null ? "–" : formatValue(v));
  return el("tr", { "data-datastream": e.datastream, "data-state": e.state, "data-rule": e.rule },
    el("td", {}, el("span", { class: `badge ${e.state}` }, e.state)),
    el("td", {}, e.rule),
    el("td", {}, datastreamLink(e.datastream)),
    el("td", {}, formatTime(Date.parse(e.start))),
    el("td", { class: "num" }, `${formatValue(e.duration_s)} s`),
    el("td", { class: "num value" }, number(e.max)),
    el("td", { class: "num" }, number(e.avg)),
    el("td", { class: "num" }, number(e.threshold)),
    el("td", {}, e.closed_at ? formatTime(Date.parse(e.closed_at)) : "–"));
}
