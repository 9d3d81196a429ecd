// Pipeline health, pushed by the server every second: throughput, totals, jobs' watermarks and lag;
// on an edge site its relay to the central site, on a central site the edge sites relaying to it.
import { el, fitWidth, formatTime, formatValue, subscribe } from "../lib.js";

const KEEP = 300; // seconds of throughput history on the chart

export async function health(main) {
  const cards = el("div", { class: "cards" });
  const chartBox = el("div", { class: "panel", id: "throughput" });
  const jobs = el("div", { class: "panel", id: "jobs" });
  const lag = el("div", { class: "panel", id: "lag" });
  const relay = el("div", { class: "panel", id: "relay" });
  const sites = el("div", { class: "panel", id: "sites" });
  const relayTitle = el("h2", { hidden: "" }, "Relay to the central site");
  const sitesTitle = el("h2", { hidden: "" }, "Edge sites");
  main.append(el("h1", {}, "Pipeline"), cards, el("h2", {}, "Readings per second"), chartBox,
    el("h2", {}, "Jobs"), jobs, el("h2", {}, "Consumer lag"), lag, relayTitle, relay, sitesTitle, sites);
  const history = [[], [], []]; // seconds, accepted/s, stored/s
  const chart = new uPlot({
    width: 800, height: 200, scales: { x: { time: true } },
    series: [{}, { label: "accepted/s", stroke: "#2f6fdf" }, { label: "stored/s", stroke: "#1f9d55" }],
  }, history, chartBox);
  const resizing = fitWidth(chart, chartBox, 200);
  let previous = null;

  const close = subscribe("/api/v1/live/health", (stats) => {
    const ingest = stats.ingest ?? {};
    const sink = stats.sink ?? {};
    if (previous) {
      const seconds = (stats.now_ms - previous.now_ms) / 1000 || 1;
      history[0].push(stats.now_ms / 1000);
      history[1].push(((ingest.accepted ?? 0) - (previous.ingest?.accepted ?? 0)) / seconds);
      history[2].push(((sink.stored ?? 0) - (previous.sink?.stored ?? 0)) / seconds);
      if (history[0].length > KEEP) history.forEach((column) => column.shift());
      chart.setData(history);
    }
    previous = stats;
    const rate = history[1].length ? history[1][history[1].length - 1] : null;
    cards.replaceChildren(
      card("accepted/s", rate === null ? "–" : Math.round(rate)),
      card("accepted", ingest.accepted), card("rejected", ingest.rejected),
      card("dead-lettered", ingest.dead_lettered), card("pending", ingest.pending),
      card("stored", sink.stored), card("refused by storage", sink.rejected),
      card("live clients", stats.websocket_clients), card("dropped slow clients", stats.websocket_dropped),
    );
    jobs.replaceChildren(table(["job", "events", "watermark", "watermark delay"],
      Object.entries(stats.jobs ?? {}).map(([name, job]) => [name, job.events_in,
        job.watermark_ms < -1e15 ? "–" : formatTime(job.watermark_ms),
        job.watermark_delay_s === null ? "–" : `${formatValue(job.watermark_delay_s)} s`])));
    lag.replaceChildren(table(["group", "topic", "partition", "lag"],
      (stats.lag ?? []).map((l) => [l.group, l.topic, l.partition, l.lag])));
    relayTitle.hidden = !stats.relay;
    relay.replaceChildren(...(stats.relay ? relayCards(stats.relay) : []));
    sitesTitle.hidden = !stats.sites;
    sites.replaceChildren(...(stats.sites ? [table(["site", "last contact", "lag (records)", "lag (s)", "records/s"],
      stats.sites.map((s) => [s.site, formatTime(Date.parse(s.last_contact)), s.lag_records, s.lag_s,
        formatValue(s.rate)]))] : []));
  });
  return () => { close(); resizing.disconnect(); chart.destroy(); };
}

function relayCards(relay) {
  return [
    card("link", relay.connected ? "connected" : "down"), card("backlog (records)", relay.backlog_records),
    card("backlog (bytes)", relay.backlog_bytes), card("oldest unsent (s)", relay.oldest_unsent_age_s),
    card("relayed/s", formatValue(relay.rate)), card("dropped", relay.dropped),
    el("div", { class: "muted", "data-relay-error": "" }, relay.last_error ? `last error: ${relay.last_error}` : ""),
  ];
}

function card(label, value) {
  return el("div", { class: "card", "data-card": label },
    el("div", { class: "label" }, label), el("div", { class: "big" }, value === undefined ? "–" : String(value)));
}

function table(headings, rows) {
  if (rows.length === 0) return el("span", { class: "muted" }, "none");
  return el("table", {}, el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, String(c)))))));
}
