// The one door to the API: the key, JSON in and out, and errors turned into the user's words.
const KEY = "proxbalance_api_key";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export const auth = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(value) { if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY); },
  onRejected: () => {},
};

// What a person should read for an API error; the API's own message stays available in err.message.
export function humanError(err) {
  if (!(err instanceof ApiError)) return "The ProxBalance server could not be reached. Is it running?";
  switch (err.status) {
    case 401: return "Your API key was not accepted. Enter a valid key.";
    case 403: return "This API key may only read. Use an admin key to change anything.";
    case 404: return err.code === "no_data"
      ? "No cluster data yet: the first collection is still running."
      : (err.code === "not_found" && err.message ? err.message : "This feature is not available on this server.");
    case 409: return `Not possible right now: ${err.message}`;
    case 429: return "Too many requests: wait a moment and try again.";
    case 502: case 503: case 504: return "Proxmox VE is unreachable right now; the data shown may be old.";
    default:
      if (err.status >= 500) return "The server hit an error. Details are in its log.";
      return err.message || `Request failed (${err.status}).`;
  }
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = {};
  const sent = auth.key;
  if (sent) headers["X-API-Key"] = sent;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network", "network error");
  }
  if (raw && res.ok) return res;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const e = (data && data.error) || {};
    const err = new ApiError(res.status, e.code || "http_error", e.message || `HTTP ${res.status}`, e.details);
    // a late 401 for a key already replaced (requests of the previous key still in flight) must not log
    // out the key the user has just entered
    if (res.status === 401 && sent === auth.key) auth.onRejected(err);
    throw err;
  }
  return data;
}

// GET that answers null instead of throwing when the server does not offer the endpoint (older server).
export async function optional(path) {
  try { return await api(path); } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405) && err.code !== "no_data") return null;
    throw err;
  }
}
