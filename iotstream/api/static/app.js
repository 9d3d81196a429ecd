// The dashboard's router: #/ (datastreams), #/datastream/NAME, #/meters, #/alerts, #/apps[/NAME], #/health.
// Each page renders into <main> and returns a function that closes its live subscriptions.
import { el, getJSON } from "./lib.js";
import { alerts } from "./pages/alerts.js";
import { apps } from "./pages/apps.js";
import { datastream } from "./pages/datastream.js";
import { health } from "./pages/health.js";
import { meters } from "./pages/meters.js";
import { overview } from "./pages/overview.js";

const PAGES = { "": overview, datastream, meters, alerts, apps, health };
const main = document.getElementById("page");
let leave = () => {};
let visit = 0;

async function route() {
  leave();
  leave = () => {};
  const current = ++visit;
  const [page, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const render = PAGES[page] ?? overview;
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    link.classList.toggle("active", link.dataset.page === (PAGES[page] ? page : ""));
  }
  main.replaceChildren(el("p", { class: "muted" }, "loading…"));
  const content = el("div");
  try {
    const close = (await render(content, decodeURIComponent(rest.join("/")))) ?? (() => {});
    if (current !== visit) return close(); // the user moved on while this page loaded
    leave = close;
    main.replaceChildren(content);
  } catch (error) {
    if (current === visit) main.replaceChildren(el("p", { class: "error" }, String(error.message ?? error)));
  }
}

// Who is signed in (with access control on): their name and a logout button; the Pipeline page shows the
// whole platform's counters, so only an operator gets it.
async function showWho() {
  const who = await getJSON("/api/v1/whoami");
  if (!who.auth) return;
  const name = who.user ?? `token ${who.token}`;
  document.getElementById("who-name").textContent = `${name} · ${who.role} of ${who.tenant}`;
  document.getElementById("who").hidden = false;
  if (!who.operator) document.querySelector('nav a[data-page="health"]').remove();
}

window.addEventListener("hashchange", route);
showWho().catch(() => {});
route();
