// Settings: penalty presets with simulate-before-apply, thresholds, notifications, AI, API keys,
// configuration backup/export/import, system info.
import { api, humanError, optional } from "../api.js";
import { card, confirmDialog, fill, fmt, h, notice, table } from "../dom.js";

const ui = {};

export async function render(view) {
  if (view.dataset.built !== "settings") {
    for (const k of ["presets", "thresholds", "notify", "ai", "keys", "config", "system"]) ui[k] = h("div", { id: `settings-${k}` });
    fill(view, card("Penalty scoring", ui.presets), card("Thresholds", ui.thresholds),
      card("Notifications", ui.notify), card("AI second opinion", ui.ai), card("API keys", ui.keys),
      card("Configuration", ui.config), card("System", ui.system));
    view.dataset.built = "settings";
  }
  await Promise.all([presets(), thresholds(), notify(), ai(), keys(), config(), system()].map((p) =>
    p.catch((err) => console.warn(err.message))));
}

async function presets() {
  const body = await api("/api/penalty-config");
  const result = h("div", { id: "simulate-result", role: "status" });
  fill(ui.presets, h("p", {}, `In force: ${body.preset || "custom"}${body.customized ? " (customised)" : ""}.`),
    h("div", { class: "presets" }, body.presets.map((p) => h("div", { class: "preset", "data-preset": p.name },
      h("h3", {}, p.label), h("p", {}, p.description),
      h("div", { class: "row" },
        h("button", { type: "button", class: "simulate", onclick: () => simulate(p, result) }, "Simulate"),
        h("button", { type: "button", class: "apply", onclick: () => apply(p, result) }, "Apply"))))),
    result);
}

async function simulate(p, out) {
  fill(out, notice(`Simulating ${p.label}…`));
  try {
    const s = await api("/api/penalty-config/simulate", { method: "POST", body: { preset: p.name } });
    const cb = s.current.batch_impact, pb = s.proposed.batch_impact;
    fill(out, h("h3", {}, `${p.label}: what would change`),
      h("p", {}, `Moves: ${s.current.count} now → ${s.proposed.count} with ${p.label}. Hottest node after the plan: `,
        `${fmt.pct(cb?.after?.peak_pct)} now → ${fmt.pct(pb?.after?.peak_pct)}.`),
      h("p", {}, `Added: ${s.changes.added.map((c) => `${c.vmid}→${c.target_node}`).join(", ") || "none"} · `,
        `removed: ${s.changes.removed.map((c) => `${c.vmid}→${c.target_node}`).join(", ") || "none"}`));
  } catch (err) { fill(out, notice(humanError(err), "error")); }
}

async function apply(p, out) {
  if (!await confirmDialog(`Apply ${p.label}?`, h("p", {}, p.description), "Apply")) return;
  try {
    await api(`/api/penalty-config/presets/${encodeURIComponent(p.name)}`, { method: "POST", body: {} });
    fill(out, notice(`${p.label} is now in force. Generate a new plan to use it.`, "ok"));
    await presets();
    fill(document.getElementById("simulate-result"), notice(`${p.label} is now in force. Generate a new plan to use it.`, "ok"));
  } catch (err) { fill(out, notice(humanError(err), "error")); }
}

async function thresholds() {
  const [cfg, sug] = await Promise.all([api("/api/penalty-config"), optional("/api/recommendations/threshold-suggestions").catch(() => null)]);
  const msg = h("div", { id: "threshold-msg", role: "status" });
  const cpu = h("input", { type: "number", id: "cpu-threshold", name: "cpu_threshold", min: 1, max: 100, step: "any", value: cfg.config.cpu_threshold });
  const mem = h("input", { type: "number", id: "mem-threshold", name: "mem_threshold", min: 1, max: 100, step: "any", value: cfg.config.mem_threshold });
  const save = async (event) => {
    event.preventDefault();
    try {
      await api("/api/penalty-config", { method: "POST", body: { config: { cpu_threshold: Number(cpu.value), mem_threshold: Number(mem.value) } } });
      fill(msg, notice("Thresholds saved.", "ok"));
    } catch (err) { fill(msg, notice(`Not saved: ${err.message || humanError(err)}`, "error")); }
  };
  fill(ui.thresholds, h("form", { class: "form", onsubmit: save },
    h("label", {}, "Node CPU % counted as loaded", cpu), h("label", {}, "Node memory % counted as loaded", mem),
    sug ? h("p", { class: "hint" }, `Suggested: CPU ${sug.suggested_cpu_threshold} %, memory ${sug.suggested_mem_threshold} % (${sug.confidence} confidence: ${sug.reasoning}).`) : null,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "save-thresholds" }, "Save thresholds")), msg));
}

async function notify() {
  const body = await optional("/api/notifications/providers");
  if (!body) { fill(ui.notify, notice("Notifications are not available on this server.")); return; }
  const providers = body.providers || [];
  const msg = h("div", { role: "status" });
  fill(ui.notify, providers.length ? table([
    { key: "service", label: "Service", render: (p) => `${p.service} (${p.id})` },
    { key: "url", label: "URL (secrets masked)", render: (p) => p.url },
    { key: "last_delivery", label: "Last delivery", render: (p) => !p.valid ? "invalid URL" : p.last_delivery
      ? `${p.last_delivery.ok ?? p.last_delivery.success ? "delivered" : "failed"} ${fmt.time(p.last_delivery.time || p.last_delivery.at)}` : "never" },
  ], providers, { id: "providers" }) : notice("No notification service is configured (notifications.urls)."),
  h("div", { class: "row" }, h("button", { type: "button", onclick: async () => {
    try { const r = await api("/api/notifications/test", { method: "POST", body: {} }); fill(msg, notice(r.message || "Test sent.", "ok")); }
    catch (err) { fill(msg, notice(humanError(err), "error")); }
  } }, "Send a test notification")), msg);
}

async function ai() {
  const cfg = await optional("/api/config").catch(() => null);
  if (!cfg || !cfg.settings) { fill(ui.ai, notice("AI settings are not available on this server.")); return; }
  const rows = cfg.settings.filter((x) => x.name.startsWith("ai.") && ["ai.enabled", "ai.provider", "ai.openai_model",
    "ai.anthropic_model", "ai.ollama_model", "ai.ollama_host", "ai.openai_base_url", "ai.anonymize_names",
    "ai.attach_to_recommendations", "ai.openai_api_key", "ai.anthropic_api_key"].includes(x.name));
  const on = rows.find((r) => r.name === "ai.enabled");
  fill(ui.ai, notice(on && on.value ? "AI second opinion is on: suggestions are checked by the engine and never run by themselves."
    : "AI second opinion is off (ai.enabled). Set a provider below through the configuration API or file.", on && on.value ? "ok" : "info"),
  table([{ key: "name", label: "Setting" }, { key: "value", label: "Value", render: (r) => (r.value === "" ? "–" : String(r.value)) },
    { key: "source", label: "From" }], rows, { id: "ai-settings" }));
}

async function keys() {
  const body = await api("/api/keys").catch((err) => ({ error: err }));
  if (body.error) { fill(ui.keys, notice(humanError(body.error), body.error.status === 403 ? "info" : "error")); return; }
  const msg = h("div", { role: "status", id: "key-msg" });
  const name = h("input", { type: "text", id: "key-name", maxlength: 100, required: true, placeholder: "dashboard-phone" });
  const scope = h("select", { id: "key-scope" }, h("option", { value: "read" }, "read"), h("option", { value: "admin" }, "admin"));
  const create = async (event) => {
    event.preventDefault();
    try {
      const r = await api("/api/keys", { method: "POST", body: { name: name.value, scope: scope.value } });
      fill(msg, notice(`New key (shown once, copy it now): ${r.key}`, "ok"));
      keys();
    } catch (err) { fill(msg, notice(err.message || humanError(err), "error")); }
  };
  fill(ui.keys, table([
    { key: "name", label: "Name" }, { key: "prefix", label: "Key starts" }, { key: "scope", label: "Scope" },
    { key: "last_used_at", label: "Last used", render: (k) => fmt.time(k.last_used_at) },
    { key: "revoked_at", label: "State", render: (k) => k.revoked_at ? "revoked" : h("button", { type: "button", onclick: async () => {
      if (!await confirmDialog(`Revoke key ${k.name}?`, h("p", {}, "Clients using it stop working at once."), "Revoke")) return;
      try { await api(`/api/keys/${k.id}`, { method: "DELETE" }); keys(); } catch (err) { fill(msg, notice(humanError(err), "error")); }
    } }, "Revoke") },
  ], body.keys || [], { id: "keys" }),
  h("form", { class: "form inline", onsubmit: create }, h("label", {}, "Name", name), h("label", {}, "Scope", scope),
    h("button", { type: "submit" }, "Create key")), msg);
}

async function config() {
  const msg = h("div", { role: "status", id: "config-msg" });
  const file = h("input", { type: "file", accept: "application/json,.json", id: "config-file", "aria-label": "configuration file to import" });
  const run = (fn) => async () => { try { fill(msg, notice(await fn(), "ok")); } catch (err) { fill(msg, notice(err.message || humanError(err), "error")); } };
  fill(ui.config, h("div", { class: "row" },
    h("button", { type: "button", onclick: run(async () => {
      const res = await api("/api/config/export", { raw: true });
      const a = h("a", { href: URL.createObjectURL(await res.blob()), download: "proxbalance-config.json" }); a.click();
      return "Exported (secrets redacted).";
    }) }, "Export"),
    h("button", { type: "button", onclick: run(async () => { const r = await api("/api/config/backup", { method: "POST", body: {} }); return `Backup saved${r.backup_id ? ` (#${r.backup_id})` : ""}.`; }) }, "Back up"),
    file, h("button", { type: "button", onclick: run(async () => {
      if (!file.files.length) throw new Error("Choose a file to import first.");
      let data;
      try { data = JSON.parse(await file.files[0].text()); } catch { throw new Error("That file is not valid JSON."); }
      await api("/api/config/import", { method: "POST", body: data });
      return "Imported.";
    }) }, "Import")), msg);
}

async function system() {
  const info = await optional("/api/system/info").catch(() => null);
  const health = await api("/api/health");
  const rows = Object.entries({ ...(info || {}), api_status: health.status }).filter(([k, v]) => k !== "success" && typeof v !== "object")
    .map(([k, v]) => ({ k: k.replaceAll("_", " "), v }));
  const msg = h("div", { role: "status" });
  fill(ui.system, table([{ key: "k", label: "" }, { key: "v", label: "", render: (r) => String(r.v) }], rows, { id: "system-info" }),
    info ? h("button", { type: "button", onclick: async () => {
      try { const r = await api("/api/system/check-update"); fill(msg, notice(r.message || (r.update_available ? "An update is available." : "Up to date."), "ok")); }
      catch (err) { fill(msg, notice(humanError(err), "error")); }
    } }, "Check for updates") : null, msg);
}
