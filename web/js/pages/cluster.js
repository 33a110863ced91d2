// Cluster page: KPIs, nodes with sparklines, history chart, cluster map, guest table, affinity groups.
import { api, humanError, optional } from "../api.js";
import { bar, card, fill, fmt, h, kpi, notice, sparkline, table } from "../dom.js";
import { lineChart } from "../chart.js";
import { latestPlan } from "../plan.js";

const ui = {};
let range = "24h";
let mapView = "cpu";
let filters = { q: "", node: "", type: "", status: "" };
let data = null;
let lastHist = null;  // the newest history answer, so redrawn node cards keep their sparklines

export async function render(view) {
  if (view.dataset.built !== "cluster") {
    ui.kpis = h("div", { class: "kpis", id: "kpis" });
    ui.nodes = h("div", { class: "nodecards", id: "nodecards" });
    ui.chart = h("div", { class: "chart", id: "history-chart" });
    ui.ranges = h("div", { class: "seg", role: "group", "aria-label": "History range" },
      ["1h", "6h", "24h", "7d", "30d", "1y"].map((r) => h("button", { type: "button", "data-range": r,
        "aria-pressed": String(r === range), onclick: () => { range = r; drawHistory(); } }, r)));
    ui.map = h("div", { class: "map", id: "cluster-map" });
    ui.mapSeg = h("div", { class: "seg", role: "group", "aria-label": "Map view" },
      [["cpu", "CPU"], ["mem", "Memory"], ["alloc", "Allocated"]].map(([k, label]) => h("button", {
        type: "button", "aria-pressed": String(k === mapView), onclick: () => { mapView = k; drawMap(); } }, label)));
    ui.guestFilters = guestFilterBar();
    ui.guests = h("div", { id: "guest-table" });
    ui.affinity = h("div", { id: "affinity" });
    fill(view,
      ui.kpis,
      card("Nodes", ui.nodes),
      card("History", ui.ranges, ui.chart),
      card("Cluster map", ui.mapSeg, ui.map),
      card("Guests", ui.guestFilters, ui.guests),
      card("Affinity groups", ui.affinity));
    view.dataset.built = "cluster";
  }
  await refresh(view);
}

export async function refresh() {
  // the cluster itself first; the plan, automation and affinity fill in when they arrive
  const extras = Promise.all([latestPlan("?limit=1").catch(() => null),
    optional("/api/automigrate/status").catch(() => null), optional("/api/affinity-groups").catch(() => null)]);
  const [summary, nodes, guests] = await Promise.all([
    api("/api/cluster-summary"), api("/api/nodes-only"), api("/api/guests-only")]);
  data = { ...(data || {}), summary, nodes, guests };
  drawKpis();
  drawNodes();
  drawMap();
  drawGuests();
  const history = drawHistory();
  const [recs, auto, affinity] = await extras;
  Object.assign(data, { recs, auto, affinity });
  drawKpis();
  drawAffinity();
  await history;
}

function balance(values) {
  if (!values.length) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return Math.max(0, 100 - sd * 2);  // 100 = every node at the same load; minus 2 per point of spread
}

function drawKpis() {
  const s = data.summary.summary;
  const online = Object.values(data.nodes.nodes).filter((n) => n.online);
  const cpuBal = balance(online.map((n) => n.cpu_percent));
  const memBal = balance(online.map((n) => n.mem_percent));
  const pending = data.recs ? (data.recs.total_count ?? data.recs.recommendations?.length ?? 0) : "–";
  const auto = data.auto ? (data.auto.enabled ? (data.auto.dry_run ? "dry run" : "on") : "off") : "–";
  fill(ui.kpis,
    kpi("Nodes", `${s.online_nodes}/${s.node_count}`, s.offline_nodes.length ? `offline: ${s.offline_nodes.join(", ")}` : "online"),
    kpi("Guests", String(s.guest_count), `${s.running_guests} running · ${s.vm_count} VM · ${s.ct_count} CT`),
    kpi("CPU balance", `${cpuBal.toFixed(0)}/100`, `cluster ${fmt.pct(s.cpu_percent)}`),
    kpi("Memory balance", `${memBal.toFixed(0)}/100`, `cluster ${fmt.pct(s.mem_percent)}`),
    kpi("Pending moves", String(pending), "recommended now"),
    kpi("Automation", auto, data.auto && data.auto.next_run ? `next ${fmt.time(data.auto.next_run)}` : ""),
    kpi("Data age", fmt.age(data.summary.age_seconds), data.summary.age_seconds > 900 ? "stale" : "fresh"),
    kpi("Quorum / HA", s.quorate ? "quorate" : "NO QUORUM", `${s.ha_managed} HA-managed`));
}

function drawNodes() {
  const nodes = Object.values(data.nodes.nodes);
  fill(ui.nodes, nodes.map((n) => h("article", { class: `node ${n.status}`, "data-node": n.name },
    h("header", {}, h("h3", {}, n.name), h("span", { class: `pill ${n.online ? "ok" : "error"}` },
      n.maintenance ? "maintenance" : n.status)),
    h("dl", {},
      h("dt", {}, "CPU"), h("dd", {}, bar(n.cpu_percent, { label: `${n.name} CPU` })),
      h("dt", {}, "Memory"), h("dd", {}, bar(n.mem_percent, { label: `${n.name} memory` })),
      h("dt", {}, "IO wait"), h("dd", {}, fmt.pct(100 * (n.iowait || 0)))),
    h("div", { class: "sparks", id: `spark-${n.name}` }),
    h("small", {}, `${n.guest_count} guests · ${n.maxcpu} cores · ${fmt.gib(n.maxmem)}`))));
  fillSparks();
}

async function drawHistory() {
  for (const b of ui.ranges.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.range === range));
  let hist;
  try {
    hist = await api(`/api/history/nodes?range=${range}&points=120`);
  } catch (err) {
    fill(ui.chart, notice(humanError(err), "error"));
    return;
  }
  const names = Object.keys(hist.nodes);
  if (!names.length) { fill(ui.chart, notice("No history collected for this range yet.")); return; }
  const migrations = await optional("/api/automigrate/history?limit=200").catch(() => null);
  const marks = (migrations?.migrations || migrations?.history || [])
    .map((m) => m.completed_at || m.started_at || m.time).filter((t) => t && t >= hist.t[0]);
  lineChart(ui.chart, hist.t, names.map((n) => ({ label: `${n} CPU %`, values: hist.nodes[n].cpu_percent })), marks);
  lastHist = hist;
  fillSparks();
}

function fillSparks() {
  if (!lastHist) return;
  for (const [n, s] of Object.entries(lastHist.nodes)) {
    const el = document.getElementById(`spark-${n}`);
    if (!el) continue;
    fill(el, h("span", {}, "CPU"), sparkline(s.cpu_percent, { label: `${n} CPU over ${range}` }),
      h("span", {}, "Mem"), sparkline(s.mem_percent, { label: `${n} memory over ${range}` }),
      h("span", {}, "IO"), sparkline(s.iowait_percent, { label: `${n} iowait over ${range}`, max: 20 }));
  }
}

function drawMap() {
  for (const b of ui.mapSeg.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.textContent.toLowerCase().startsWith(mapView === "alloc" ? "alloc" : mapView)));
  if (!data) return;
  const guests = Object.values(data.guests.guests);
  const size = (g) => mapView === "cpu" ? g.cpu_cores_used : mapView === "mem" ? g.mem : g.maxmem;
  const cols = Object.values(data.nodes.nodes).map((n) => {
    const mine = guests.filter((g) => g.node === n.name).sort((a, b) => size(b) - size(a));
    const cap = mapView === "cpu" ? n.maxcpu : n.maxmem;
    return h("div", { class: "mapcol" }, h("h3", {}, n.name),
      h("div", { class: "blocks" }, mine.map((g) => {
        const share = cap ? 100 * size(g) / cap : 0;
        return h("span", { class: `block ${g.kind === "CT" ? "ct" : "vm"} ${g.status !== "running" ? "stopped" : ""}`,
          style: { flexBasis: `${Math.max(2, Math.min(100, share * 3))}%` },
          title: `${g.vmid} ${g.name}: ${share.toFixed(1)} % of ${n.name}` }, String(g.vmid));
      })));
  });
  fill(ui.map, cols);
}

function guestFilterBar() {
  const set = (k) => (e) => { filters[k] = e.target.value; drawGuests(); };
  return h("div", { class: "filters" },
    h("label", {}, "Search", h("input", { type: "search", id: "guest-search", placeholder: "name, vmid or tag", oninput: set("q") })),
    h("label", {}, "Node", h("select", { id: "guest-node", onchange: set("node") }, h("option", { value: "" }, "all"))),
    h("label", {}, "Type", h("select", { onchange: set("type") }, h("option", { value: "" }, "all"),
      h("option", { value: "VM" }, "VM"), h("option", { value: "CT" }, "CT"))),
    h("label", {}, "Status", h("select", { onchange: set("status") }, h("option", { value: "" }, "all"),
      h("option", { value: "running" }, "running"), h("option", { value: "stopped" }, "stopped"))));
}

function drawGuests() {
  if (!data) return;
  const sel = document.getElementById("guest-node");
  if (sel && sel.options.length === 1) {
    for (const n of Object.keys(data.nodes.nodes)) sel.append(h("option", { value: n }, n));
  }
  const q = filters.q.trim().toLowerCase();
  const rows = Object.values(data.guests.guests).filter((g) => (!filters.node || g.node === filters.node) &&
    (!filters.type || g.kind === filters.type) && (!filters.status || g.status === filters.status) &&
    (!q || String(g.vmid).includes(q) || (g.name || "").toLowerCase().includes(q) || g.tags.some((t) => t.includes(q))));
  fill(ui.guests, table([
    { key: "vmid", label: "ID", num: true },
    { key: "name", label: "Name" },
    { key: "kind", label: "Type" },
    { key: "node", label: "Node" },
    { key: "status", label: "Status" },
    { key: "cpu_percent", label: "CPU", num: true, render: (g) => fmt.pct(g.cpu_percent) },
    { key: "mem", label: "Memory", num: true, render: (g) => fmt.gib(g.mem) },
    { key: "tags", label: "Tags", value: (g) => g.tags.join(";"), render: (g) => g.tags.join(", ") || "–" },
    { key: "ha_managed", label: "HA", render: (g) => (g.ha_managed ? "yes" : "–") },
  ], rows, { id: "guests", empty: "No guest matches these filters.", caption: `${rows.length} guests`, pageSize: 25 }));
}

function drawAffinity() {
  if (!data.affinity) { fill(ui.affinity, notice("Affinity groups are not available on this server.")); return; }
  const groups = data.affinity.affinity_groups;
  if (!groups.length) { fill(ui.affinity, notice("No affinity or anti-affinity groups are defined (tags or HA rules).")); return; }
  fill(ui.affinity, h("ul", { class: "groups" }, groups.map((gr) => h("li", { class: gr.is_split ? "split" : "" },
    h("strong", {}, gr.name), ` (${gr.source}) · ${gr.member_count} members on ${gr.nodes.join(", ")} `,
    gr.is_split ? h("span", { class: "pill warn" }, "split") : h("span", { class: "pill ok" }, gr.status)))));
}
