// The latest plan, generated once by the dashboard itself on a fresh install (no API message for users).
import { api } from "./api.js";

let generating = null;

export async function latestPlan(query = "") {
  const diag = (await api("/api/recommendations/diagnostics")).diagnostics;
  if (!diag.last_generation) {
    generating = generating || api("/api/recommendations", { method: "POST", body: {} }).finally(() => { generating = null; });
    await generating;
  }
  return api(`/api/recommendations${query}`);
}

export function generatePlan() {
  return api("/api/recommendations", { method: "POST", body: {} });
}
