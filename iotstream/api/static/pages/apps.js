// Stream apps: SQL over the tenant's readings. The list shows each app's state, counters, watermark and
// lag (reloaded every 2 s) with pause/resume/delete; the form creates one, and SQL the API refuses is
// marked where it names the fault. The selected app's output (its apps/NAME/… datastreams) arrives live.
import { datastreamLink, el, formatTime, formatValue, getJSON, liveQuery, subscribe } from "../lib.js";

const EVERY_MS = 2000;
const SHOWN = 50; // output readings kept in the live view

export async function apps(main, selected) {
  const summary = el("p", { class: "muted", id: "apps-summary" });
  const failed = el("p", { class: "error", id: "apps-failed", hidden: "" });
  const body = el("tbody");
  const list = el("div", { class: "panel", id: "apps" }, el("table", {},
    el("thead", {}, el("tr", {}, ...HEADINGS.map((h) => el("th", {}, h)))), body));
  const rows = new Map();
  const output = outputView();
  const form = createForm((name) => refresh().then(() => select(name)));
  main.append(el("h1", {}, "Stream apps"), summary, failed, list,
    el("h2", {}, "New app"), form.node, output.title, output.node);

  // A pause, resume or delete: the list is reloaded at once, and the API's refusal shown above it.
  const act = async (method, path) => {
    try {
      await send(method, path);
      failed.hidden = true;
    } catch (error) {
      Object.assign(failed, { textContent: error.message, hidden: false });
    }
    await refresh();
  };

  async function load() {
    const found = await getJSON("/api/v1/apps");
    summary.textContent = found.length ? `${found.length} app${found.length === 1 ? "" : "s"}`
      : "No apps yet: create one below.";
    list.hidden = found.length === 0;
    const names = new Set(found.map((app) => app.name));
    for (const [name, entry] of rows) if (!names.has(name)) { entry.row.remove(); rows.delete(name); }
    for (const app of found) {
      if (!rows.has(app.name)) rows.set(app.name, appRow(app.name, select, act));
      rows.get(app.name).show(app);
    }
    if ([...body.children].map((row) => row.dataset.app).join("\n") !== [...names].join("\n")) {
      body.replaceChildren(...found.map((app) => rows.get(app.name).row)); // only when the set changed
    }
    if (output.name && !names.has(output.name)) select(null);
  }

  function select(name) {
    for (const [key, entry] of rows) entry.row.classList.toggle("selected", key === name);
    history.replaceState(null, "", "#/apps" + (name ? "/" + encodeURIComponent(name) : ""));
    output.show(name).catch((error) => {
      Object.assign(failed, { textContent: `output of ${name}: ${error.message}`, hidden: false });
    });
  }

  // Reloads run one after another (a button's waits for the timer's); the timer skips a turn while one
  // is on the way. A failure is shown, and the next reload tries again.
  let queue = Promise.resolve();
  let queued = 0;
  function refresh() {
    queued += 1;
    queue = queue.then(load)
      .catch((error) => { summary.textContent = `not refreshed: ${error.message}`; })
      .finally(() => { queued -= 1; });
    return queue;
  }

  await load();
  if (selected && rows.has(selected)) select(selected);
  const timer = setInterval(() => queued || refresh(), EVERY_MS);
  return () => { clearInterval(timer); output.show(null); };
}

const HEADINGS = ["app", "state", "events in", "events out", "late", "watermark", "lag", "events/s", ""];

// One app's row; `show` updates its cells in place, so a click on its buttons survives a reload.
function appRow(name, select, act) {
  const path = "/api/v1/apps/" + encodeURIComponent(name);
  const cell = (field) => el("td", { class: "num", "data-field": field });
  const cells = Object.fromEntries(["events_in", "events_out", "late", "watermark_ms", "lag", "events_per_s"]
    .map((field) => [field, cell(field)]));
  const state = el("span", { class: "badge" });
  const problem = el("div", { class: "error", hidden: "" });
  const pause = el("button", { "data-action": "pause" });
  const remove = el("button", { "data-action": "delete", onclick: () => {
    if (confirm(`Delete app ${name}? Its stored output stays.`)) act("DELETE", path);
  } }, "delete");
  pause.addEventListener("click", () => act("POST", `${path}/${pause.dataset.action}`));
  const open = el("a", { href: "#/apps/" + encodeURIComponent(name), onclick: (event) => {
    event.preventDefault();
    select(name);
  } }, name);
  const row = el("tr", { "data-app": name },
    el("td", {}, open, problem), el("td", {}, state), ...Object.values(cells),
    el("td", { class: "actions" }, pause, remove));
  const show = (app) => {
    const status = app.status ?? {};
    row.dataset.state = app.state;
    Object.assign(state, { textContent: app.state, className: `badge ${app.state}` });
    for (const [field, node] of Object.entries(cells)) node.textContent = formatValue(status[field]);
    const watermark = status.watermark_ms;
    cells.watermark_ms.textContent = typeof watermark === "number" && watermark > -1e15 ? formatTime(watermark) : "–";
    Object.assign(problem, { textContent: status.error ?? "", hidden: !status.error });
    pause.dataset.action = app.state === "paused" ? "resume" : "pause";
    pause.textContent = pause.dataset.action;
    remove.disabled = app.declared;
    remove.title = app.declared ? "declared in iotstream.toml: remove it there" : "";
  };
  return { row, show };
}

// The name and SQL of a new app. A 400 naming a line and column marks that place: the word there is
// selected in the box, and the line is repeated under it with a caret below the column.
function createForm(created) {
  const name = el("input", { name: "name", required: "", placeholder: "name, e.g. cold", "aria-label": "app name",
    autocomplete: "off", spellcheck: "false" });
  const sql = el("textarea", { name: "sql", required: "", rows: 6, spellcheck: "false", "aria-label": "SQL",
    placeholder: "SELECT * FROM readings WHERE value < 4" });
  const error = el("p", { class: "error", id: "app-error", role: "alert", hidden: "" });
  const marker = el("pre", { class: "sql-marker", id: "sql-marker", hidden: "" });
  const submit = el("button", { type: "submit" }, "Create");
  const node = el("form", { class: "panel app-form", id: "new-app" }, name, sql, submit, error, marker);
  const clear = () => { error.hidden = marker.hidden = true; };
  sql.addEventListener("input", () => { marker.hidden = true; }); // the marked place has moved
  sql.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) node.requestSubmit();
  });
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await send("POST", "/api/v1/apps", { name: name.value.trim(), sql: sql.value });
    } catch (failure) {
      Object.assign(error, { textContent: failure.message, hidden: false });
      markAt(sql, marker, failure.answer?.line, failure.answer?.column);
      return;
    } finally {
      submit.disabled = false;
    }
    const made = name.value.trim();
    clear();
    node.reset();
    await created(made);
  });
  return { node };
}

function markAt(sql, marker, line, column) {
  marker.hidden = !line;
  if (!line) return;
  const lines = sql.value.split("\n");
  const text = lines[line - 1] ?? "";
  const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
  const at = column ? Math.min(column - 1, text.length) : 0;
  const word = column ? (/^\w+/.exec(text.slice(at))?.[0].length || 1) : text.length;
  marker.textContent = `${text}\n${text.slice(0, at).replace(/[^\t]/g, " ")}^ line ${line}` +
    (column ? `, column ${column}` : "");
  Object.assign(marker.dataset, { line, column: column ?? "" });
  sql.focus();
  sql.setSelectionRange(start + at, Math.min(start + at + word, sql.value.length));
}

// The selected app's output readings, newest first: the latest of each output datastream, then every
// new one as the live stream brings it.
function outputView() {
  const title = el("h2", { hidden: "" });
  const body = el("tbody");
  const empty = el("p", { class: "muted" }, "No output yet.");
  const node = el("div", { class: "panel", id: "app-output", hidden: "" }, empty, el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "datastream"), el("th", {}, "measured"), el("th", {}, "value"))),
    body));
  const view = { name: null, close: () => {}, seen: new Set() };

  const add = (datastream, time, value) => {
    const id = `${datastream}@${time}`;
    if (view.seen.has(id)) return;
    view.seen.add(id);
    body.prepend(el("tr", { "data-datastream": datastream, class: "flash" }, el("td", {}, datastreamLink(datastream)),
      el("td", { class: "time muted" }, formatTime(time)), el("td", { class: "num value" }, formatValue(value))));
    while (body.children.length > SHOWN) body.lastElementChild.remove();
    empty.hidden = true;
  };

  view.show = async (name) => {
    view.close();
    Object.assign(view, { name, close: () => {}, seen: new Set() });
    body.replaceChildren();
    empty.hidden = false;
    title.hidden = node.hidden = !name;
    if (!name) return;
    const prefix = `apps/${name}/`;
    title.textContent = `Output of ${name} (${prefix}…)`;
    // An app's output readings name their datastream `key` (as window results do), ingested ones `datastream`.
    view.close = subscribe(liveQuery([prefix + "*"]), (batch) => {
      for (const { type, event } of batch) {
        if (type === "reading") add(event.datastream ?? event.key, event.time, event.value);
      }
    });
    const latest = (await getJSON("/api/v1/datastreams"))
      .filter((d) => d.key.startsWith(prefix) && d.latest)
      .sort((a, b) => a.latest.time.localeCompare(b.latest.time));
    if (view.name !== name) return; // another app was selected meanwhile
    for (const d of latest) if (!body.querySelector(`tr[data-datastream="${CSS.escape(d.key)}"]`)) {
      add(d.key, Date.parse(d.latest.time), d.latest.value);
    }
  };
  return { title, node, get name() { return view.name; }, show: (name) => view.show(name) };
}

// A POST or DELETE of the apps API: the parsed answer (null for 204), or an Error whose `answer` is the
// API's body (a refused SQL's `line` and `column` among it).
async function send(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) location.assign("/ui/login.html"); // the session ended
  const answer = response.status === 204 ? null : await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = answer?.detail;
    const message = typeof detail === "string" ? detail : detail ? JSON.stringify(detail) : response.statusText;
    throw Object.assign(new Error(message), { answer });
  }
  return answer;
}
