// The daily meter view of every daily_meters job: per meter and day its value (AggDay), the difference
// to the day before and the leakage rest (the difference minus what the submeters used).
import { dayBars, datastreamLink, el, formatValue, getJSON, liveQuery, subscribe } from "../lib.js";

const KINDS = [["", "day value"], [".diff", "difference"], [".rest", "leakage rest"]];

export async function meters(main) {
  const jobs = (await getJSON("/api/v1/jobs")).filter((job) => job.type === "daily_meters");
  main.append(el("h1", {}, "Daily meters"));
  const boxes = new Map();
  for (const job of jobs) {
    main.append(el("h2", {}, `${job.name} (${job.timezone})`));
    for (const [meter, spec] of Object.entries(job.meters)) {
      const box = el("div", { class: "panel meter", "data-meter": meter });
      const submeters = spec.submeters.length ? spec.submeters : ["–"];
      main.append(el("p", {}, datastreamLink(meter), el("span", { class: "muted" }, " submeters: "),
        ...submeters.flatMap((s, i) => [i ? ", " : "", s === "–" ? s : datastreamLink(s)])), box);
      boxes.set(meter, box);
    }
  }
  if (boxes.size === 0) {
    main.append(el("p", { class: "muted" }, "No daily_meters job with meters is configured."));
    return () => {};
  }
  await Promise.all([...boxes].map(([meter, box]) => show(meter, box)));

  // Window results arrive on the live stream; a meter's view is reloaded (once per batch) when one of
  // its series changes.
  const names = [...boxes.keys()].flatMap((meter) => KINDS.map(([suffix]) => meter + suffix));
  return subscribe(liveQuery(names), (batch) => {
    const changed = new Set(batch.filter((m) => m.type === "window").map((m) => m.event.key.replace(/\.(diff|rest)$/, "")));
    for (const meter of changed) if (boxes.has(meter)) show(meter, boxes.get(meter));
  });
}

async function show(meter, box) {
  const series = await Promise.all(KINDS.map(async ([suffix, label]) => {
    const rows = await getJSON("/api/v1/aggregates", { datastream: meter + suffix, window: "1d" });
    return { label, values: new Map(rows.map((r) => [r.start.slice(0, 10), r.value])) };
  }));
  const days = [...new Set(series.flatMap((s) => [...s.values.keys()]))].sort();
  if (days.length === 0) {
    box.replaceChildren(el("span", { class: "muted" }, "No complete day yet."));
    return;
  }
  const legend = el("div", { class: "legend" }, ...series.map((s, i) =>
    el("span", {}, el("i", { class: `swatch s${i}`, style: `background:${["#2f6fdf", "#7aa7f0", "#c97a00"][i]}` }), s.label)));
  const recent = days.slice(-14).reverse();
  const table = el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "day"), ...series.map((s) => el("th", {}, s.label)))),
    el("tbody", {}, ...recent.map((day) => el("tr", { "data-day": day }, el("td", {}, day),
      ...series.map((s) => el("td", { class: "num" }, formatValue(s.values.get(day))))))));
  box.replaceChildren(legend, dayBars(days, series), table);
}
