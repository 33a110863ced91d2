// Dashboard shell: health badge and API-key handling. The full dashboard arrives with its own issue.
const keyInput = document.getElementById("apikey");
keyInput.value = sessionStorage.getItem("proxbalance_api_key") || "";

async function api(path) {
  const res = await fetch(path, { headers: { "X-API-Key": keyInput.value.trim() } });
  return { status: res.status, body: await res.json() };
}

async function showHealth() {
  const badge = document.getElementById("health");
  const { body } = await api("/api/health");
  badge.textContent = `API ${body.status}`;
  badge.className = `pill ${body.status}`;
}

async function showSummary() {
  const target = document.getElementById("summary");
  const { status, body } = await api("/api/cluster-summary");
  if (status !== 200) {
    target.textContent = body.error ? body.error.message : `HTTP ${status}`;
    return;
  }
  const rows = Object.entries(body).filter(([k]) => k !== "success")
    .map(([k, v]) => `<tr><th>${k}</th><td>${typeof v === "object" ? JSON.stringify(v) : v}</td></tr>`);
  target.innerHTML = `<table>${rows.join("")}</table>`;
}

document.getElementById("save").addEventListener("click", () => {
  sessionStorage.setItem("proxbalance_api_key", keyInput.value.trim());
  showSummary();
});
showHealth();
if (keyInput.value) showSummary();
