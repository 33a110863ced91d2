// Recommendations: plan cards with the why, batch impact, skipped guests, forecasts; migrate with
// validation first and live progress after.
import { api, humanError, optional } from "../api.js";
import { generatePlan, latestPlan } from "../plan.js";
import { card, confirmDialog, fill, fmt, h, notice, table } from "../dom.js";
import { followMigration, validationList } from "../migrate.js";

const ui = {};
const selected = new Set();

export async function render(view) {
  if (view.dataset.built !== "recommendations") {
    ui.toolbar = h("div", { class: "row" },
      h("button", { type: "button", id: "generate", class: "primary", onclick: () => generate() }, "Generate new plan"),
      h("button", { type: "button", id: "run-selected", onclick: () => runSelected() }, "Run selected"),
      h("a", { href: "/api/recommendations/export?format=csv", id: "export-csv", onclick: exportCsv }, "Export CSV"));
    ui.status = h("div", { id: "rec-status", role: "status" });
    ui.impact = h("div", { id: "impact" });
    ui.cards = h("div", { class: "reccards", id: "recommendations" });
    ui.forecasts = h("div", { id: "forecasts" });
    ui.skipped = h("div", { id: "skipped" });
    fill(view, card("Plan", ui.toolbar, ui.status, ui.impact), ui.cards,
      card("Forecast alerts", ui.forecasts), card("Guests not moved", ui.skipped));
    view.dataset.built = "recommendations";
  }
  await refresh(view);
}

export async function refresh() {
  const run = await latestPlan();
  draw(run);
  api("/api/recommendations/skipped?limit=10000").then((s) => drawSkipped(s.skipped || []))
    .catch((err) => fill(ui.skipped, notice(humanError(err), "error")));
  optional("/api/recommendations/forecasts").then(drawForecasts).catch((err) => fill(ui.forecasts, notice(humanError(err), "error")));
}

async function generate() {
  fill(ui.status, notice("Computing a new plan…"));
  try { draw(await generatePlan()); }
  catch (err) { fill(ui.status, notice(humanError(err), "error")); }
}

function draw(run) {
  const recs = run.recommendations || [];
  fill(ui.status, notice(recs.length
    ? `${recs.length} recommended moves, planned ${fmt.time(run.generated_at)} in ${Math.round(run.generation_time_ms || 0)} ms.`
    : "The cluster is balanced: no move would improve it enough to be worth a migration.", recs.length ? "info" : "ok"));
  drawImpact(run.batch_impact);
  fill(ui.cards, recs.map(recCard));
  if (run.skipped) drawSkipped(run.skipped);
}

function drawSkipped(skipped) {
  fill(ui.skipped, table([
    { key: "vmid", label: "Guest", num: true },
    { key: "reason", label: "Reason", render: (s) => s.reason.replaceAll("_", " ") },
    { key: "detail", label: "Detail" },
  ], skipped, { id: "skipped-table", empty: "Every guest was considered.", caption: `${skipped.length} guests stay where they are`, pageSize: 20 }));
}

function drawImpact(impact) {
  if (!impact) { fill(ui.impact); return; }
  const b = impact.before, a = impact.after;
  const rows = Object.keys(b.nodes).map((n) => ({ node: n, cb: b.nodes[n].cpu_pct, ca: a.nodes[n].cpu_pct,
    mb: b.nodes[n].mem_pct, ma: a.nodes[n].mem_pct }));
  fill(ui.impact,
    h("p", { class: "impact" }, `Hottest node ${fmt.pct(b.peak_pct)} → ${fmt.pct(a.peak_pct)} · CPU spread (std) `,
      `${fmt.pct(b.cpu_std_pct)} → ${fmt.pct(a.cpu_std_pct)} · ${impact.moves} moves, ${fmt.num(impact.gib_moved)} GiB to copy`),
    h("p", { class: "hint" }, "Loads here are the blended 24 h / 7 d figures the engine plans on, not the last sample."),
    table([
      { key: "node", label: "Node" },
      { key: "cb", label: "CPU before", num: true, render: (r) => fmt.pct(r.cb) },
      { key: "ca", label: "CPU after", num: true, render: (r) => fmt.pct(r.ca) },
      { key: "mb", label: "Mem before", num: true, render: (r) => fmt.pct(r.mb) },
      { key: "ma", label: "Mem after", num: true, render: (r) => fmt.pct(r.ma) },
    ], rows, { id: "impact-table" }));
}

function breakdown(rec) {
  const terms = Object.entries(rec.breakdown || {}).filter(([, t]) => Math.abs(t.gain) >= 0.05)
    .sort((x, y) => Math.abs(y[1].gain) - Math.abs(x[1].gain)).slice(0, 6);
  const max = Math.max(1, ...terms.map(([, t]) => Math.abs(t.gain)));
  return h("ul", { class: "terms", "aria-label": "Why: score terms" }, terms.map(([name, t]) => h("li", {},
    h("span", {}, name.replaceAll("_", " ")),
    h("span", { class: `termbar ${t.gain >= 0 ? "gain" : "loss"}`, style: { width: `${Math.max(3, 100 * Math.abs(t.gain) / max)}%` } }),
    h("em", {}, `${t.gain >= 0 ? "+" : ""}${t.gain.toFixed(1)}`))));
}

function recCard(rec) {
  const p = rec.predicted || {};
  const box = h("input", { type: "checkbox", "aria-label": `select move of ${rec.vmid}`, checked: selected.has(rec.vmid),
    onchange: (e) => { if (e.target.checked) selected.add(rec.vmid); else selected.delete(rec.vmid); } });
  const progress = h("div", { class: "progress", id: `progress-${rec.vmid}` });
  return h("article", { class: "rec card", "data-vmid": rec.vmid },
    h("header", {}, box, h("h3", {}, `#${rec.order} ${rec.name || rec.vmid} (${rec.vmid}, ${rec.type})`),
      h("span", { class: `pill ${rec.priority}` }, rec.priority)),
    h("p", { class: "route" }, h("strong", {}, rec.source_node), " → ", h("strong", {}, rec.target_node),
      ` · ${rec.reason.replaceAll("_", " ")}`),
    h("dl", { class: "facts" },
      h("dt", {}, "Score gain"), h("dd", {}, fmt.num(rec.score_improvement)),
      h("dt", {}, "Confidence"), h("dd", {}, `${rec.confidence_score}/100`),
      h("dt", {}, "Risk"), h("dd", {}, `${Math.round(100 * rec.risk_score)}/100`),
      h("dt", {}, "Copy"), h("dd", {}, `${fmt.num(rec.migration?.gib, 2)} GiB, ~${Math.round(rec.migration?.seconds || 0)} s`),
      h("dt", {}, `${rec.source_node} CPU`), h("dd", {}, `${fmt.pct(p.source_cpu_pct_before)} → ${fmt.pct(p.source_cpu_pct)}`),
      h("dt", {}, `${rec.target_node} CPU`), h("dd", {}, `${fmt.pct(p.target_cpu_pct_before)} → ${fmt.pct(p.target_cpu_pct)}`),
      h("dt", {}, `${rec.target_node} memory`), h("dd", {}, `${fmt.pct(p.target_mem_pct_before)} → ${fmt.pct(p.target_mem_pct)}`)),
    h("details", {}, h("summary", {}, "Why this move"), breakdown(rec)),
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary migrate", onclick: () => migrateOne(rec) }, "Migrate"),
      h("button", { type: "button", onclick: () => feedback(rec, "helpful") }, "Helpful"),
      h("button", { type: "button", onclick: () => feedback(rec, "not_helpful") }, "Not helpful")),
    progress);
}

function body(rec) {
  return { vmid: rec.vmid, source_node: rec.source_node, target_node: rec.target_node, guest_type: rec.type };
}

async function migrateOne(rec) {
  const progress = document.getElementById(`progress-${rec.vmid}`);
  fill(progress, notice("Validating…"));
  let validation;
  try {
    validation = (await api("/api/migrate/validate", { method: "POST", body: body(rec) })).validation;
  } catch (err) { fill(progress, notice(humanError(err), "error")); return; }
  const ok = await confirmDialog(`Migrate ${rec.name || rec.vmid} to ${rec.target_node}?`,
    validationList(validation), validation.passed ? "Migrate" : "Cannot migrate");
  if (!ok) { fill(progress); return; }
  if (!validation.passed) { fill(progress, notice("Validation failed: nothing was started.", "error")); return; }
  try {
    const started = await api("/api/migrate", { method: "POST", body: body(rec) });
    await followMigration(rec.vmid, progress, started);
  } catch (err) { fill(progress, notice(humanError(err), "error")); }
}

async function runSelected() {
  const run = await latestPlan();
  const chosen = (run.recommendations || []).filter((r) => selected.has(r.vmid));
  if (!chosen.length) { fill(ui.status, notice("Select one or more moves first.", "warn")); return; }
  const ok = await confirmDialog(`Run ${chosen.length} migrations?`, h("ul", {}, chosen.map((r) =>
    h("li", {}, `${r.vmid} ${r.source_node} → ${r.target_node}`))), "Run batch");
  if (!ok) return;
  try {
    const res = await api("/api/migrate/batch", { method: "POST", body: { migrations: chosen.map(body) } });
    fill(ui.status, notice(`Batch started (${chosen.length} moves).`, "ok"));
    for (const r of chosen) followMigration(r.vmid, document.getElementById(`progress-${r.vmid}`), res).catch(() => {});
  } catch (err) { fill(ui.status, notice(humanError(err), "error")); }
}

async function feedback(rec, rating) {
  try {
    await api("/api/recommendations/feedback", { method: "POST", body: { vmid: rec.vmid, rating } });
    fill(document.getElementById(`progress-${rec.vmid}`), notice("Thanks: feedback recorded.", "ok"));
  } catch (err) { fill(document.getElementById(`progress-${rec.vmid}`), notice(humanError(err), "error")); }
}

function drawForecasts(body) {
  if (!body) { fill(ui.forecasts, notice("Forecasts are not available on this server.")); return; }
  const alerts = body.forecasts || body.alerts || [];
  if (!alerts.length) { fill(ui.forecasts, notice("No node is forecast to cross its threshold.", "ok")); return; }
  fill(ui.forecasts, table([
    { key: "severity", label: "Severity", render: (a) => h("span", { class: `pill ${a.severity}` }, a.severity) },
    { key: "node", label: "Node" },
    { key: "metric", label: "Metric" },
    { key: "message", label: "Forecast", render: (a) => a.message || `${fmt.pct(a.predicted_pct ?? a.predicted)} expected` },
  ], alerts, { id: "forecast-table" }));
}

function exportCsv(event) {
  event.preventDefault();
  api("/api/recommendations/export?format=csv", { raw: true }).then((res) => res.blob()).then((blob) => {
    const a = h("a", { href: URL.createObjectURL(blob), download: "recommendations.csv" });
    a.click();
    URL.revokeObjectURL(a.href);
  }).catch((err) => fill(ui.status, notice(humanError(err), "error")));
}
