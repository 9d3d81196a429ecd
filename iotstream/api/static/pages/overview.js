// Every datastream with its latest value and last day, updated live as readings arrive.
import { datastreamLink, el, formatTime, formatValue, getJSON, liveQuery, sparkline, subscribe } from "../lib.js";

export async function overview(main) {
  const { datastreams } = await getJSON("/api/v1/overview");
  const rows = new Map();
  const body = el("tbody");
  const filter = el("input", { type: "search", placeholder: "filter datastreams", "aria-label": "filter" });
  const count = el("span", { class: "muted" });

  const addRow = (key, name, latest, spark) => {
    const value = el("td", { class: "num value" }, formatValue(latest?.value));
    const time = el("td", { class: "time muted" }, formatTime(latest?.time));
    const label = el("td", {}, datastreamLink(key, name));
    if (name !== key) label.append(" ", el("span", { class: "muted key" }, key));
    const row = el("tr", { "data-datastream": key },
      label, value, time, el("td", {}, sparkline(spark ?? [])));
    const entry = { row, value, time, text: `${name} ${key}`.toLowerCase(),
      timeMs: latest ? Date.parse(latest.time) : -Infinity };
    rows.set(key, entry);
    return entry;
  };
  const showCount = () => { count.textContent = `${rows.size} datastreams`; };

  for (const d of datastreams) body.append(addRow(d.key, d.name, d.latest, d.spark).row);
  showCount();

  filter.addEventListener("input", () => {
    const text = filter.value.toLowerCase();
    for (const entry of rows.values()) entry.row.hidden = !entry.text.includes(text);
  });

  main.append(
    el("h1", {}, "Datastreams"),
    el("div", { class: "toolbar" }, filter, count),
    el("div", { class: "panel" }, el("table", { id: "datastreams" },
      el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "latest"), el("th", {}, "measured"),
        el("th", {}, "last day (hourly)"))),
      body)),
  );

  // Newer readings replace the shown value; a late one (older than what is shown) does not.
  return subscribe(liveQuery(["*"]), (batch) => {
    for (const { type, event } of batch) {
      if (type !== "reading") continue;
      let entry = rows.get(event.datastream);
      if (!entry) {
        entry = addRow(event.datastream, event.datastream, null, []);
        body.append(entry.row);
        showCount();
      }
      if (event.time < entry.timeMs) continue;
      entry.timeMs = event.time;
      entry.value.textContent = formatValue(event.value);
      entry.time.textContent = formatTime(event.time);
      entry.row.classList.remove("flash");
      void entry.row.offsetWidth; // restart the highlight animation
      entry.row.classList.add("flash");
    }
  });
}
