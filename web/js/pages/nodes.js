// Nodes: maintenance mode and evacuation with a plan preview, live per-guest progress and cancel.
import { api, humanError, optional } from "../api.js";
import { bar, card, confirmDialog, fill, fmt, h, notice, table } from "../dom.js";

const ui = {};
let session = null;  // the evacuation being watched: {id, node}
let poller = null;

export async function render(view) {
  if (view.dataset.built !== "nodes") {
    ui.list = h("div", { id: "node-list" });
    ui.evac = h("div", { id: "evacuation" });
    fill(view, card("Nodes", ui.list), card("Evacuation", ui.evac));
    view.dataset.built = "nodes";
    if (!session) fill(ui.evac, notice("Choose “Evacuate…” on a node to preview where each guest would go."));
  }
  await refresh(view);
}

export async function refresh() {
  const [body, maint] = await Promise.all([api("/api/nodes-only"), optional("/api/maintenance").catch(() => null)]);
  const flagged = new Set((maint && maint.maintenance_nodes) || []);
  const nodes = Object.values(body.nodes).map((n) => ({ ...n, maintenance: n.maintenance || flagged.has(n.name) }));
  fill(ui.list, table([
    { key: "name", label: "Node" },
    { key: "status", label: "Status", render: (n) => h("span", { class: `pill ${n.online ? "ok" : "error"}` }, n.maintenance ? "maintenance" : n.status) },
    { key: "cpu_percent", label: "CPU", num: true, render: (n) => bar(n.cpu_percent, { label: `${n.name} CPU` }) },
    { key: "mem_percent", label: "Memory", num: true, render: (n) => bar(n.mem_percent, { label: `${n.name} memory` }) },
    { key: "guest_count", label: "Guests", num: true },
    { key: "actions", label: "Actions", sortable: false, render: (n) => h("div", { class: "row" },
      h("button", { type: "button", class: "maint", onclick: () => toggleMaintenance(n) }, n.maintenance ? "End maintenance" : "Maintenance"),
      h("button", { type: "button", class: "evacuate", onclick: () => preview(n.name) }, "Evacuate…")) },
  ], nodes, { id: "nodes" }));
}

async function toggleMaintenance(n) {
  const on = !n.maintenance;
  const ok = await confirmDialog(on ? `Put ${n.name} in maintenance?` : `End maintenance of ${n.name}?`,
    h("p", {}, on ? "ProxBalance will never move guests onto this node while it is in maintenance. Running guests stay until you evacuate."
      : "The node becomes a target for moves again."), on ? "Enter maintenance" : "End maintenance");
  if (!ok) return;
  try {
    await api(`/api/nodes/${encodeURIComponent(n.name)}/maintenance`, { method: "POST", body: { enable: on, reason: "set from the dashboard" } });
    await refresh();
  } catch (err) { fill(ui.evac, notice(humanError(err), "error")); }
}

function moveRows(moves) {
  return table([
    { key: "vmid", label: "Guest", num: true, render: (m) => `${m.vmid} ${m.name || ""}` },
    { key: "target_node", label: "To", render: (m) => m.target_node || "–" },
    { key: "status", label: "Guest", render: (m) => `${m.guest_type === "lxc" ? "CT" : "VM"} ${m.status || ""}${m.ha ? " · HA" : ""}` },
    { key: "state", label: "State", render: (m) => h("span", { class: `pill ${m.state || "pending"}` }, m.state || "planned") },
    { key: "detail", label: "Detail", render: (m) => m.detail || m.reason || m.error || "" },
  ], moves, { id: "evac-moves", empty: "No guest to move." });
}

async function preview(node) {
  fill(ui.evac, notice(`Planning the evacuation of ${node}…`));
  let plan;
  try { plan = await api("/api/nodes/evacuate", { method: "POST", body: { node, dry_run: true } }); }
  catch (err) { fill(ui.evac, notice(humanError(err), "error")); return; }
  const sess = plan.session || plan;
  const moves = sess.moves || [];
  const blocked = (sess.left || []).map((x) => ({ ...x, state: "cannot move" }));
  fill(ui.evac, h("h3", {}, `Preview: evacuate ${node}`),
    notice(`${moves.length} guests would move${blocked.length ? `, ${blocked.length} cannot move (reasons below)` : ""}.`, blocked.length ? "warn" : "info"),
    moveRows(moves),
    blocked.length ? h("div", {}, h("h4", {}, "Cannot move"), moveRows(blocked)) : null,
    h("div", { class: "row" }, h("button", { type: "button", class: "primary", id: "evac-run",
      onclick: () => run(node, plan.session_id) }, `Evacuate ${node} now`)));
}

async function run(node, previewId) {
  const ok = await confirmDialog(`Evacuate ${node}?`, h("p", {}, "The previewed moves run now, a few at a time. You can cancel; moves already running finish."), "Evacuate");
  if (!ok) return;
  try {
    // run exactly the reviewed plan (a move that became invalid is re-planned and shown in the session)
    const res = await api("/api/nodes/evacuate", { method: "POST", body: { node, from_preview: previewId } });
    session = { id: res.session_id || res.session?.id, node };
    watch();
  } catch (err) { fill(ui.evac, notice(humanError(err), "error")); }
}

function watch() {
  clearTimeout(poller);
  const tick = async () => {
    if (!session) return;
    let s;
    try { s = await api(`/api/nodes/evacuate/status/${encodeURIComponent(session.id)}`); }
    catch (err) { fill(ui.evac, notice(humanError(err), "error")); return; }
    const sess = s.session || s;
    const moves = sess.moves || [];
    const left = sess.left || [];
    const done = moves.filter((m) => ["completed", "failed", "skipped", "cancelled"].includes(m.state)).length;
    const finished = ["completed", "completed_with_errors", "cancelled", "failed", "interrupted"].includes(sess.state || sess.status);
    fill(ui.evac, h("h3", {}, `Evacuation of ${session.node}: ${sess.state || sess.status}`),
      h("progress", { max: Math.max(1, moves.length), value: done, "aria-label": "evacuation progress" }),
      h("p", {}, `${done} of ${moves.length} guests done · started ${fmt.time(sess.created_at || sess.started_at)}`),
      moveRows(moves),
      left.length ? h("div", {}, h("h4", {}, "Left on the node"), moveRows(left.map((x) => ({ ...x, state: "left" })))) : null,
      finished ? null : h("button", { type: "button", id: "evac-cancel", onclick: cancel }, "Cancel evacuation"));
    if (!finished) poller = setTimeout(tick, 1500);
  };
  tick();
}

async function cancel() {
  try { await api(`/api/nodes/evacuate/${encodeURIComponent(session.id)}/cancel`, { method: "POST", body: {} }); }
  catch (err) { ui.evac.append(notice(humanError(err), "error")); }
}
