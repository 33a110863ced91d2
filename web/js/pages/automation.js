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
    kpi("Next run", status.next_run ? fmt.time(status.next_run) : "–", timerText(status.timer)),
    kpi("Last cycle", status.last_cycle ? fmt.time(status.last_cycle.finished_at || status.last_cycle.started_at) : "never",
      status.last_cycle ? `${status.last_cycle.mode} · ${status.last_cycle.status}` : ""),
    kpi("Last 24 h", `${status.counts?.executed ?? 0} moved`, `${status.counts?.blocked ?? 0} stopped by a gate · ${status.counts?.dry_run ?? 0} dry run`),
    kpi("Paused", status.paused ? "yes" : "no", status.paused ? (status.paused.reason || "") : ""));
  const decisions = (logs && logs.entries) || [];
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
    const verdicts = res.verdicts || [];
    const by = (v) => verdicts.filter((x) => x.verdict === v).length;
    fill(ui.result, notice(`${kind === "test" ? "Test cycle" : "Cycle"} #${res.cycle_id} ${res.status}: ${verdicts.length} candidates, `
      + `${by("executed")} executed, ${by("blocked")} stopped by a gate, ${by("dry_run")} dry run.`, "ok"));
    await refresh();
  } catch (err) { fill(ui.result, notice(humanError(err), "error")); }
}

function timerText(t) {
  if (!t) return "";
  if (typeof t === "string") return `via ${t}`;
  return `${t.kind || t.mode || "timer"} ${t.enabled === false ? "off" : "on"}`;
}

const LABELS = {
  "automation.enabled": "Enabled", "automation.dry_run": "Dry run (plan only)",
  "automation.max_migrations_per_run": "Most migrations per cycle", "automation.max_concurrent": "Most in flight",
  "automation.min_confidence": "Minimum confidence (0-100)", "automation.interval_minutes": "Minutes between cycles",
  "automation.windows": "Migration windows (comma separated, e.g. mon-fri 22:00-06:00)",
  "automation.blackouts": "Blackout periods (comma separated)", "automation.timezone": "Time zone",
};

async function drawConfig() {
  const body = await optional("/api/automigrate/config").catch(() => null);
  if (!body) { fill(ui.config, notice("Automation settings are not available on this server.")); return; }
  const cfg = body.config || {};
  const keys = Object.keys(cfg).filter((k) => k.startsWith("automation.") &&
    (Array.isArray(cfg[k]) || ["string", "number", "boolean"].includes(typeof cfg[k])));
  const inputs = keys.map((k) => {
    const v = cfg[k];
    const label = LABELS[k] || k.replace("automation.", "").replaceAll("_", " ");
    if (typeof v === "boolean") return h("label", { class: "check" }, h("input", { type: "checkbox", name: k, checked: v }), label);
    if (Array.isArray(v)) return h("label", {}, label, h("input", { type: "text", name: k, value: v.join(", "), "data-kind": "list" }));
    return h("label", {}, label, h("input", { type: typeof v === "number" ? "number" : "text", step: "any", name: k, value: v }));
  });
  fill(ui.config, inputs, h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "auto-save" }, "Save")),
    h("div", { id: "auto-config-msg", role: "status" }));
}

async function saveConfig(event) {
  event.preventDefault();
  const out = {};
  for (const el of event.target.querySelectorAll("input")) {
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "number") out[el.name] = Number(el.value);
    else if (el.dataset.kind === "list") out[el.name] = el.value.split(",").map((x) => x.trim()).filter(Boolean);
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
