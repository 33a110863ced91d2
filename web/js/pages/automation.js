// Automation: status, next run, recent decisions with the gate that stopped each, history, configuration.
import { api, humanError, optional } from "../api.js";
import { card, fill, fmt, h, kpi, notice, table } from "../dom.js";

const ui = {};

export async function render(view) {
  if (view.dataset.built !== "automation") {
    ui.status = h("div", { class: "kpis", id: "auto-status" });
    ui.actions = h("div", { class: "row" },
      h("button", { type: "button", id: "auto-test", onclick: () => cycle("test") }, "Test cycle (changes nothing)"),
      h("button", { type: "button", id: "auto-run", class: "primary", onclick: () => cycle("run") }, "Run a cycle now"),
      h("button", { type: "button", id: "auto-export", onclick: exportHistory }, "Export history (CSV)"));
    ui.result = h("div", { id: "auto-result", role: "status" });
    ui.decisions = h("div", { id: "auto-decisions" });
    ui.history = h("div", { id: "auto-history" });
    ui.config = h("form", { id: "auto-config", class: "form", onsubmit: saveConfig });
    fill(view, ui.status, card("Actions", ui.actions, ui.result), card("Recent decisions", ui.decisions),
      card("Migration history", ui.history), card("Configuration", ui.config));
    view.dataset.built = "automation";
  }
  await refresh(view);
  await drawConfig();
}

export async function refresh() {
  const [status, history, logs] = await Promise.all([optional("/api/automigrate/status"),
    optional("/api/automigrate/history?limit=50"), optional("/api/automigrate/logs?limit=100")]);
  if (!status) {
    fill(ui.status, notice("Automation is not available on this server."));
    return;
  }
  fill(ui.status,
    kpi("Automation", status.enabled ? "enabled" : "disabled", status.dry_run ? "dry run: plans only" : "migrates for real"),
    kpi("Next run", status.next_run ? fmt.time(status.next_run) : "–", status.timer ? `via ${status.timer}` : ""),
    kpi("Last cycle", status.last_cycle ? fmt.time(status.last_cycle.finished_at || status.last_cycle.started_at) : "never",
      status.last_cycle ? (status.last_cycle.summary || status.last_cycle.state || "") : ""),
    kpi("Paused", status.paused ? "yes" : "no", status.paused ? (status.pause_reason || "") : ""));
  const decisions = (logs && (logs.decisions || logs.entries || logs.logs)) || status.recent_decisions || [];
  fill(ui.decisions, table([
    { key: "time", label: "Time", render: (d) => fmt.time(d.time || d.created_at) },
    { key: "vmid", label: "Guest", num: true },
    { key: "target_node", label: "Target", render: (d) => d.target_node || "–" },
    { key: "verdict", label: "Verdict", render: (d) => h("span", { class: `pill ${d.verdict === "executed" ? "ok" : "warn"}` }, d.verdict || d.decision || "–") },
    { key: "gate", label: "Gate", render: (d) => d.gate || "–" },
    { key: "reason", label: "Why", render: (d) => d.reason || d.detail || d.message || "" },
  ], decisions, { id: "decisions", empty: "No automation cycle has run yet." }));
  const rows = (history && (history.migrations || history.history)) || [];
  fill(ui.history, table([
    { key: "started_at", label: "Started", render: (m) => fmt.time(m.started_at || m.created_at) },
    { key: "vmid", label: "Guest", num: true },
    { key: "source_node", label: "From" },
    { key: "target_node", label: "To" },
    { key: "state", label: "State" },
    { key: "origin", label: "By", render: (m) => `${m.origin || ""} ${m.actor || ""}`.trim() || "–" },
  ], rows, { id: "history", empty: "No migration yet." }));
}

async function cycle(kind) {
  fill(ui.result, notice(kind === "test" ? "Running a dry cycle…" : "Running a cycle…"));
  try {
    const res = await api(`/api/automigrate/${kind}`, { method: "POST", body: {} });
    const c = res.cycle || res;
    fill(ui.result, notice(`${kind === "test" ? "Dry cycle" : "Cycle"} done: ${c.summary || `${(c.executed || []).length} executed, ${(c.decisions || []).length} decisions`}.`, "ok"));
    await refresh();
  } catch (err) { fill(ui.result, notice(humanError(err), "error")); }
}

const FIELDS = [
  ["enabled", "Enabled", "checkbox"], ["dry_run", "Dry run (plan only)", "checkbox"],
  ["max_migrations_per_run", "Most migrations per cycle", "number"], ["max_concurrent", "Most in flight", "number"],
  ["min_confidence", "Minimum confidence (0-100)", "number"], ["interval_minutes", "Minutes between cycles", "number"],
];

async function drawConfig() {
  const body = await optional("/api/automigrate/config").catch(() => null);
  if (!body) { fill(ui.config, notice("Automation settings are not available on this server.")); return; }
  const cfg = body.config || body;
  const inputs = FIELDS.filter(([k]) => k in cfg).map(([k, label, type]) => h("label", { class: type === "checkbox" ? "check" : "" },
    type === "checkbox" ? h("input", { type, name: k, checked: !!cfg[k] }) : null, label,
    type !== "checkbox" ? h("input", { type, name: k, value: cfg[k], min: 0 }) : null));
  const extra = Object.entries(cfg).filter(([k, v]) => !FIELDS.some(([f]) => f === k) && (typeof v === "string" || typeof v === "number"))
    .map(([k, v]) => h("label", {}, k.replaceAll("_", " "), h("input", { type: typeof v === "number" ? "number" : "text", name: k, value: v, "data-kind": typeof v })));
  fill(ui.config, inputs, extra, h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Save")),
    h("div", { id: "auto-config-msg", role: "status" }));
}

async function saveConfig(event) {
  event.preventDefault();
  const form = event.target;
  const out = {};
  for (const el of form.querySelectorAll("input")) {
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "number") out[el.name] = Number(el.value);
    else out[el.name] = el.value;
  }
  const msg = document.getElementById("auto-config-msg");
  try {
    await api("/api/automigrate/config", { method: "POST", body: out });
    fill(msg, notice("Saved.", "ok"));
  } catch (err) {
    fill(msg, notice(err.details && err.details.field ? `${err.details.field}: ${err.message}` : humanError(err), "error"));
  }
}

function exportHistory() {
  api("/api/automigrate/history/export?format=csv", { raw: true }).then((r) => r.blob()).then((blob) => {
    const a = h("a", { href: URL.createObjectURL(blob), download: "migrations.csv" });
    a.click();
    URL.revokeObjectURL(a.href);
  }).catch((err) => fill(ui.result, notice(humanError(err), "error")));
}
