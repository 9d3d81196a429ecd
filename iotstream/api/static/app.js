// The dashboard's router: #/ (datastreams), #/datastream/NAME, #/meters, #/alerts, #/health. Each page renders
// into <main> and returns a function that closes its live subscriptions.
import { el } from "./lib.js";
import { alerts } from "./pages/alerts.js";
import { datastream } from "./pages/datastream.js";
import { health } from "./pages/health.js";
import { meters } from "./pages/meters.js";
import { overview } from "./pages/overview.js";

const PAGES = { "": overview, datastream, meters, alerts, health };
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

window.addEventListener("hashchange", route);
route();
