// Small helpers shared by the pages: JSON requests, WebSocket subscriptions, DOM building, formats.

export async function getJSON(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) url.searchParams.set(key, value);
  }
  const response = await fetch(url);
  if (response.status === 401) location.assign("/ui/login.html"); // the session ended
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(`${url.pathname}: ${response.status} ${body.detail ?? response.statusText}`);
  }
  return response.json();
}

const connection = document.getElementById("connection");
const open = new Set();

function showConnection() {
  const down = [...open].some((socket) => socket.down);
  connection.textContent = open.size === 0 ? "" : down ? "reconnecting…" : "live";
  connection.className = "connection " + (open.size === 0 ? "" : down ? "down" : "live");
}

// Subscribes to a WebSocket path and calls onMessage with each parsed message; reconnects after a
// dropped connection (e.g. a server restart) with a growing delay. Returns a function that closes it.
export function subscribe(path, onMessage) {
  const state = { socket: null, closed: false, down: false, delay: 500 };
  open.add(state);
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${path}`);
    state.socket = socket;
    socket.onopen = () => { state.down = false; state.delay = 500; showConnection(); };
    socket.onmessage = (message) => onMessage(JSON.parse(message.data));
    socket.onclose = () => {
      if (state.closed) return;
      state.down = true;
      showConnection();
      setTimeout(connect, state.delay);
      state.delay = Math.min(state.delay * 2, 10000);
    };
  };
  connect();
  showConnection();
  return () => {
    state.closed = true;
    open.delete(state);
    state.socket.close();
    showConnection();
  };
}

// Keeps a uPlot chart as wide as its panel (the panel may not be on the page yet when the chart is made).
export function fitWidth(chart, box, height) {
  const observer = new ResizeObserver(() => {
    if (box.clientWidth > 40) chart.setSize({ width: box.clientWidth - 32, height });
  });
  observer.observe(box);
  return observer;
}

export function liveQuery(patterns) {
  return "/api/v1/live?" + patterns.map((p) => "datastream=" + encodeURIComponent(p)).join("&");
}

// el("td", {class: "num"}, "text", child) — attributes starting with "on" become listeners.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function formatValue(value) {
  if (typeof value === "number") {
    return Math.abs(value) >= 1e6 || (value !== 0 && Math.abs(value) < 1e-3)
      ? value.toExponential(3)
      : String(Math.round(value * 1000) / 1000);
  }
  return value === null || value === undefined ? "–" : JSON.stringify(value);
}

export function formatTime(time) {
  if (time === null || time === undefined) return "–";
  const date = new Date(time);
  return date.toISOString().replace("T", " ").replace(/(\.000)?Z$/, "") + " UTC";
}

// A datastream is addressed by its stream key; its name (free text, may repeat) is what people read.
export function datastreamLink(key, name = key) {
  return el("a", { href: "#/datastream/" + encodeURIComponent(key) }, name);
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

// A sparkline of [time, value] pairs as an inline SVG polyline.
export function sparkline(points, width = 160, height = 28) {
  const numeric = points.filter(([, value]) => typeof value === "number");
  const chart = svg("svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}` });
  if (numeric.length < 2) return chart;
  const times = numeric.map(([time]) => time);
  const values = numeric.map(([, value]) => value);
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const [v0, v1] = [Math.min(...values), Math.max(...values)];
  const x = (t) => ((t - t0) / (t1 - t0 || 1)) * (width - 2) + 1;
  const y = (v) => height - 2 - ((v - v0) / (v1 - v0 || 1)) * (height - 4);
  const coordinates = numeric.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  chart.append(svg("polyline", { points: coordinates }));
  return chart;
}

// Bars per day for up to three series (e.g. the meter's day value, its difference, its leakage);
// negative values hang below the zero line.
export function dayBars(days, series, height = 180) {
  const slot = 3 + series.length * 12;
  const width = Math.max(days.length * slot + 40, 200);
  const values = series.flatMap((s) => days.map((day) => s.values.get(day))).filter((v) => typeof v === "number");
  const top = Math.max(0, ...values);
  const bottom = Math.min(0, ...values);
  const scale = (height - 24) / (top - bottom || 1);
  const zero = 4 + top * scale;
  const chart = svg("svg", { class: "bars", width, height });
  days.forEach((day, i) => {
    series.forEach((s, j) => {
      const value = s.values.get(day);
      if (typeof value !== "number") return;
      const x = 36 + i * slot + j * 12;
      const bar = svg("rect", {
        class: `s${j}`, x, width: 10,
        y: value >= 0 ? zero - value * scale : zero,
        height: Math.max(Math.abs(value) * scale, 1),
      });
      bar.append(svg("title", {}, `${s.label} ${day}: ${formatValue(value)}`));
      chart.append(bar);
    });
    if (days.length <= 31 || i % 7 === 0) {
      chart.append(svg("text", { x: 36 + i * slot, y: height - 4 }, day.slice(5)));
    }
  });
  chart.append(svg("line", { x1: 32, x2: width, y1: zero, y2: zero, stroke: "#999" }));
  chart.append(svg("text", { x: 0, y: zero + 3 }, "0"));
  return chart;
}
