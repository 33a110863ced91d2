// Dashboard shell: the key, the router, the health pill, the theme and a flicker-free auto-refresh.
import { api, auth, humanError } from "./api.js";
import { fill, notice } from "./dom.js";
import * as cluster from "./pages/cluster.js";
import * as recommendations from "./pages/recommendations.js";
import * as nodes from "./pages/nodes.js";
import * as automation from "./pages/automation.js";
import * as settings from "./pages/settings.js";

const PAGES = { cluster, recommendations, nodes, automation, settings };
const REFRESH_MS = 15000;
const $ = (id) => document.getElementById(id);
let current = null;
let timer = null;
let routeGen = 0;  // a render that finishes after a newer route must not draw its error over it

function theme(next) {
  const value = next || localStorage.getItem("proxbalance_theme") ||
    (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  document.documentElement.dataset.theme = value;
  localStorage.setItem("proxbalance_theme", value);
}

function showLogin(text) {
  $("login").hidden = false;
  $("view").hidden = true;
  $("message").textContent = text || "";
  $("apikey").value = auth.key;
  $("apikey").focus();
}

auth.onRejected = () => {
  auth.key = "";
  showLogin("Your API key was not accepted. Enter a valid key.");
};

// health reason codes (api/health.py) in the user's words
const REASONS = {
  database_error: "the database cannot be read",
  proxmox_error: "Proxmox VE is unreachable", proxmox_unreachable: "Proxmox VE is unreachable",
  quorum_lost: "the cluster has lost quorum", nodes_offline: "some nodes are offline",
  nodes_unreachable: "some nodes do not answer", no_data: "no cluster data has been collected yet",
  data_stale: "the newest cluster data is old (collection may have stopped)",
  collection_failed: "the last collection failed",
};

export function banner(text) {
  const el = $("banner");
  el.hidden = !text;
  el.textContent = text || "";
}

async function health() {
  try {
    const body = await api("/api/health");
    const status = body.status || "unknown";
    $("health").textContent = status === "ok" ? "Healthy" : status === "degraded" ? "Degraded" : status;
    $("health").className = `pill ${status}`;
    const reasons = body.reasons || body.issues || [];
    if (status !== "ok" && reasons.length) {
      banner(`Attention: ${reasons.map((r) => REASONS[r] || r.replaceAll("_", " ")).join("; ")}.`);
    }
    else if (status === "ok") banner("");
  } catch (err) {
    $("health").textContent = "Unreachable";
    $("health").className = "pill error";
    banner(humanError(err));
  }
}

async function route() {
  const name = (location.hash.replace(/^#\/?/, "").split("/")[0]) || "cluster";
  const page = PAGES[name] || cluster;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (!auth.key) { showLogin(""); return; }
  $("login").hidden = true;
  $("view").hidden = false;
  const view = $("view");
  const gen = ++routeGen;
  if (current !== page) {
    current = page;
    fill(view, notice("Loading…"));
    view.dataset.page = name;
    view.dataset.built = "";
  }
  try {
    await page.render(view);
  } catch (err) {
    if (gen === routeGen && err.status !== 401) fill(view, notice(humanError(err), "error"));
  }
}

function schedule() {
  clearInterval(timer);
  timer = setInterval(async () => {
    if (document.hidden || !auth.key || !current || !current.refresh) return;
    try { await current.refresh($("view")); } catch { /* the next render shows errors */ }
    health();
  }, REFRESH_MS);
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  auth.key = $("apikey").value.trim();
  current = null;
  route();
});
$("keybtn").addEventListener("click", () => showLogin(""));
$("theme").addEventListener("click", () => theme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
window.addEventListener("hashchange", route);

theme();
health();
route();
schedule();
