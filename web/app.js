// Dashboard shell: health, nodes and recommendations. Data is only ever inserted as text (no innerHTML).
const $ = (id) => document.getElementById(id);
const keyInput = $("apikey");
keyInput.value = sessionStorage.getItem("proxbalance_api_key") || "";

async function api(path, options = {}) {
  const headers = { "X-API-Key": keyInput.value.trim(), ...(options.body ? { "Content-Type": "application/json" } : {}) };
  const res = await fetch(path, { ...options, headers });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
  return body;
}

function cell(row, content) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content); else td.textContent = content;
  return td;
}

function bar(pct) {
  const outer = document.createElement("div");
  outer.className = pct >= 85 ? "bar hot" : "bar";
  const fill = document.createElement("span");
  fill.style.width = `${Math.min(100, pct)}%`;
  const label = document.createElement("em");
  label.textContent = `${pct.toFixed(1)} %`;
  outer.append(fill, label);
  return outer;
}

async function showHealth() {
  const body = await api("/api/health");
  $("health").textContent = `API ${body.status}`;
  $("health").className = `pill ${body.status}`;
}

async function showNodes() {
  const body = await api("/api/nodes-only");
  const tbody = $("nodes").tBodies[0];
  tbody.replaceChildren();
  for (const n of Object.values(body.nodes)) {
    const row = tbody.insertRow();
    cell(row, n.name); cell(row, n.status); cell(row, bar(n.cpu_percent)); cell(row, bar(n.mem_percent));
    cell(row, String(n.guest_count));
  }
  $("cluster").textContent = `${Object.keys(body.nodes).length} nodes, data ${Math.round(body.age_seconds)} s old`;
}

function showPlan(run) {
  const tbody = $("recommendations").tBodies[0];
  tbody.replaceChildren();
  for (const r of run.recommendations) {
    const row = tbody.insertRow();
    cell(row, String(r.order)); cell(row, `${r.vmid} ${r.name} (${r.type})`); cell(row, r.source_node);
    cell(row, r.target_node); cell(row, r.reason); cell(row, String(r.confidence_score));
    cell(row, r.migration.gib.toFixed(2));
  }
  const b = run.batch_impact.before, a = run.batch_impact.after;
  $("impact").textContent = `${run.recommendations.length} moves: peak node load ${b.peak_pct} % → ${a.peak_pct} %`;
}

async function refresh() {
  $("message").textContent = "";
  try {
    await showNodes();
    showPlan(await api("/api/recommendations"));
  } catch (err) {
    $("message").textContent = err.message;
  }
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("proxbalance_api_key", keyInput.value.trim());
  refresh();
});
$("generate").addEventListener("click", async () => {
  $("message").textContent = "";
  try { showPlan(await api("/api/recommendations", { method: "POST", body: "{}" })); }
  catch (err) { $("message").textContent = err.message; }
});
showHealth();
if (keyInput.value) refresh();
