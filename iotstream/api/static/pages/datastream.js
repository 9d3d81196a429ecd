// One datastream: a zoomable chart (raw readings or rollups, whichever fits the range), its daily
// window results and its late readings. Follows new readings live while the range ends at the latest.
import { dayBars, el, fitWidth, formatTime, formatValue, getJSON, liveQuery, subscribe } from "../lib.js";

const SPANS = ["1h", "6h", "1d", "7d", "30d"];
const WIDTH_MS = { raw: 0, "1m": 60_000, "1h": 3_600_000, "1d": 86_400_000 };
const POINTS = 600; // at least, where the data has them
const MAX_POINTS = 1500; // more than a chart can show is merged on the server

export async function datastream(main, name) {
  const status = el("span", { class: "muted", id: "resolution" });
  const chartBox = el("div", { class: "panel", id: "chart", "data-points": "0" });
  const view = { span: "1d", from: 0, to: 1, follow: true, resolution: "raw", counts: [] };
  const data = [[], [], [], []]; // seconds, avg, min, max
  const range = () => [view.from / 1000, view.to / 1000];
  const chart = new uPlot(chartOptions(name, range, (from, to) => load({ from, to })), data, chartBox);

  const spanButtons = SPANS.map((span) =>
    el("button", { "data-span": span, onclick: () => load({ span }) }, span));
  const fromInput = el("input", { type: "datetime-local", step: 1, "aria-label": "from (UTC)" });
  const toInput = el("input", { type: "datetime-local", step: 1, "aria-label": "to (UTC)" });
  const apply = el("button", { onclick: () => load({ from: utc(fromInput.value), to: utc(toInput.value) }) }, "apply");

  async function load(range) {
    Object.assign(view, { span: range.span ?? view.span, follow: !range.from });
    const params = range.from
      ? { datastream: name, from: range.from, to: range.to, points: POINTS, max_points: MAX_POINTS }
      : { datastream: name, span: view.span, points: POINTS, max_points: MAX_POINTS };
    const series = await getJSON("/api/v1/series", params);
    Object.assign(view, { resolution: series.resolution, from: Date.parse(series.from), to: Date.parse(series.to) });
    view.counts = series.points.map((p) => p.count);
    data[0] = series.points.map((p) => Date.parse(p.time) / 1000);
    data[1] = series.points.map((p) => p.value);
    data[2] = series.points.map((p) => p.min);
    data[3] = series.points.map((p) => p.max);
    chart.setData(data);
    fromInput.value = series.from.slice(0, 19);
    toInput.value = series.to.slice(0, 19);
    for (const button of spanButtons) button.classList.toggle("active", view.follow && button.dataset.span === view.span);
    showCount();
  }

  function showCount() {
    const kind = view.resolution === "raw" ? "raw readings" : view.resolution + " rollup";
    status.textContent = `${data[0].length} points, ${kind}`;
    chartBox.dataset.points = String(data[0].length);
  }

  // A new reading extends the chart when it follows the latest data: a point of its own when raw, else
  // it is merged into the last bucket or starts the next one.
  function append(time, value) {
    if (!view.follow || typeof value !== "number") return;
    const xs = data[0];
    const seconds = time / 1000;
    if (xs.length && seconds < xs[xs.length - 1]) return; // late: shown after a reload of the range
    if (time >= view.to) Object.assign(view, { to: time + 1, from: view.from + (time + 1 - view.to) });
    const width = WIDTH_MS[view.resolution] / 1000;
    const last = xs.length - 1;
    if (width && last >= 0 && seconds < xs[last] + width) {
      const count = view.counts[last] + 1;
      data[1][last] += (value - data[1][last]) / count;
      data[2][last] = Math.min(data[2][last], value);
      data[3][last] = Math.max(data[3][last], value);
      view.counts[last] = count;
    } else {
      xs.push(width ? seconds - (seconds % width) : seconds);
      data[1].push(value); data[2].push(value); data[3].push(value);
      view.counts.push(1);
    }
    chart.setData(data);
    showCount();
  }

  const daily = el("div", { class: "panel", id: "daily" });
  const late = el("div", { class: "panel", id: "late" });
  main.append(
    el("h1", {}, name),
    el("div", { class: "toolbar" }, ...spanButtons, fromInput, toInput, apply,
      el("button", { onclick: () => load({ span: view.span }) }, "latest"), status),
    chartBox,
    el("p", { class: "muted" }, "Drag across the chart to zoom in; finer data is loaded for the range."),
    el("h2", {}, "Daily values"), daily,
    el("h2", {}, "Late readings"), late,
  );
  const resizing = fitWidth(chart, chartBox, 320);
  await Promise.all([load({ span: view.span }), showDaily(name, daily), showLate(name, late)]);

  const close = subscribe(liveQuery([name]), (batch) => {
    let windows = false;
    for (const { type, event } of batch) {
      if (type === "reading") append(event.time, event.value);
      else windows = true;
    }
    if (windows) showDaily(name, daily);
  });
  return () => { close(); resizing.disconnect(); chart.destroy(); };
}

// The x scale always shows the range asked for, even when the data covers only part of it.
function chartOptions(name, range, zoom) {
  return {
    width: 800, height: 320,
    cursor: { drag: { x: true, y: false, setScale: false } },
    scales: { x: { time: true, range } },
    axes: [{}, { size: 80, values: (u, ticks) => ticks.map(formatValue) }],
    series: [
      { value: (u, seconds) => seconds == null ? "–" : formatTime(seconds * 1000) },
      { label: name, stroke: "#2f6fdf", width: 1.5, value: (u, v) => formatValue(v) },
      { label: "min", stroke: "rgba(47,111,223,0.35)", width: 1, value: (u, v) => formatValue(v) },
      { label: "max", stroke: "rgba(47,111,223,0.35)", width: 1, value: (u, v) => formatValue(v) },
    ],
    bands: [{ series: [3, 2], fill: "rgba(47,111,223,0.10)" }],
    hooks: {
      setSelect: [(u) => {
        if (u.select.width < 5) return;
        const from = Math.floor(u.posToVal(u.select.left, "x") * 1000);
        const to = Math.ceil(u.posToVal(u.select.left + u.select.width, "x") * 1000);
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        if (to > from) zoom(from, to);
      }],
    },
  };
}

async function showDaily(name, box) {
  const rows = await getJSON("/api/v1/aggregates", { datastream: name, window: "1d" });
  if (rows.length === 0) {
    box.replaceChildren(el("span", { class: "muted" }, "No daily window results for this datastream."));
    return;
  }
  const values = new Map(rows.map((r) => [r.start.slice(0, 10), r.value]));
  box.replaceChildren(dayBars([...values.keys()], [{ label: name, values }]));
}

async function showLate(name, box) {
  const rows = await getJSON("/api/v1/late", { datastream: name });
  if (rows.length === 0) {
    box.replaceChildren(el("span", { class: "muted" }, "No late readings."));
    return;
  }
  const body = rows.slice(-100).reverse().map((r) => el("tr", {},
    el("td", {}, formatTime(r.time)), el("td", { class: "num" }, formatValue(r.value)),
    el("td", { class: "num" }, `${formatValue(r.late_by_s)} s`), el("td", {}, r.job)));
  box.replaceChildren(el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "measured"), el("th", {}, "value"), el("th", {}, "late by"),
      el("th", {}, "job"))),
    el("tbody", {}, ...body)));
}

function utc(local) {
  return local ? Date.parse(local + "Z") : null;
}
