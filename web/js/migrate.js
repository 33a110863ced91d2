// Shared by the pages that start migrations: the validation checklist and live progress of one guest.
import { api, humanError } from "./api.js";
import { fill, h, notice } from "./dom.js";

export function validationList(validation) {
  return h("div", {},
    h("ul", { class: "checks" }, (validation.checks || []).map((c) => h("li", { class: c.passed ? "pass" : "fail" },
      h("strong", {}, `${c.passed ? "✓" : "✗"} ${c.name.replaceAll("_", " ")}`), `: ${c.detail}`))),
    (validation.warnings || []).length ? h("ul", { class: "warnings" }, validation.warnings.map((w) => h("li", {}, w))) : null);
}

const DONE = new Set(["completed", "failed", "cancelled", "unknown"]);

// Poll the guest's migration status into `el` until it ends; resolves with the last status.
export async function followMigration(vmid, el, started) {
  if (!el) return null;
  let last = null;
  for (let i = 0; i < 600; i += 1) {
    try {
      last = await api(`/api/guests/${vmid}/migration-status`);
    } catch (err) {
      fill(el, notice(humanError(err), "error"));
      return null;
    }
    const m = last.migration || last;
    const state = m.state || m.status || "unknown";
    const pct = Number(m.percent ?? m.progress_percent ?? 0);
    fill(el, h("div", { class: "migstate", "data-state": state },
      h("progress", { max: 100, value: pct, "aria-label": `migration of ${vmid}` }),
      h("span", {}, `${state}${pct ? ` · ${pct.toFixed(0)} %` : ""}${m.eta_seconds ? ` · ETA ${Math.round(m.eta_seconds)} s` : ""}`),
      m.state && !DONE.has(m.state) && (m.upid || started?.upid) ? h("button", { type: "button", onclick: () => cancel(m.upid || started.upid, el) }, "Cancel") : null));
    if (DONE.has(state) || last.active === false && i > 0) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return last;
}

async function cancel(upid, el) {
  try {
    await api(`/api/migrations/${encodeURIComponent(upid)}/cancel`, { method: "POST", body: {} });
  } catch (err) { el.append(notice(humanError(err), "error")); }
}
