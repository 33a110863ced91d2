// DOM helpers. Data only ever enters the page as text nodes or attributes (never innerHTML).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function fill(el, ...children) { el.replaceChildren(); append(el, children); return el; }

export const fmt = {
  pct: (v) => (v === null || v === undefined || Number.isNaN(v) ? "–" : `${Number(v).toFixed(1)} %`),
  num: (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d)),
  gib: (bytes) => `${(bytes / 2 ** 30).toFixed(bytes >= 10 * 2 ** 30 ? 0 : 1)} GiB`,
  age(seconds) {
    if (seconds === null || seconds === undefined) return "unknown";
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} days ago`;
  },
  time(unix) { return unix ? new Date(unix * 1000).toLocaleString() : "–"; },
};

// A horizontal bar with its value written on it; hot above `hot` %.
export function bar(pct, { hot = 85, label } = {}) {
  const v = Number(pct) || 0;
  return h("div", { class: v >= hot ? "bar hot" : v >= hot - 15 ? "bar warm" : "bar", role: "img",
    "aria-label": `${label || "usage"} ${v.toFixed(1)} percent` },
  h("span", { style: { width: `${Math.min(100, Math.max(0, v))}%` } }), h("em", {}, fmt.pct(v)));
}

// A tiny SVG line of values (null = gap) scaled 0..100.
export function sparkline(values, { label = "trend", max = 100 } = {}) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 100 24");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const pts = [];
  const n = values.length;
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    pts.push(`${(100 * i / Math.max(1, n - 1)).toFixed(1)},${(24 - 22 * Math.min(v, max) / max - 1).toFixed(1)}`);
  });
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.join(" "));
  svg.append(line);
  return svg;
}

const TABLES = new Map();

// A sortable table: columns [{key, label, value(row)->sortable, render(row)->node|text, num}].
export function table(columns, rows, { id, empty = "Nothing to show.", caption, pageSize = 0 } = {}) {
  // sort and "show all" survive the auto-refresh's redraw of the same table (keyed by id)
  const saved = (id && TABLES.get(id)) || { sortKey: null, dir: 1, shown: pageSize || Infinity };
  if (id) TABLES.set(id, saved);
  let { sortKey, dir, shown } = saved;
  const keep = () => Object.assign(saved, { sortKey, dir, shown });
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "more", hidden: true, onclick: () => { shown = Infinity; keep(); draw(); } });
  const draw = () => {
    const col = columns.find((c) => c.key === sortKey);
    const sorted = col ? [...rows].sort((a, b) => {
      const x = col.value ? col.value(a) : a[col.key];
      const y = col.value ? col.value(b) : b[col.key];
      return (x > y ? 1 : x < y ? -1 : 0) * dir;
    }) : rows;
    more.hidden = sorted.length <= shown;
    more.textContent = `Show all ${sorted.length}`;
    fill(tbody, sorted.length ? sorted.slice(0, shown).map((r) => h("tr", {}, columns.map((c) => h("td", {
      class: c.num ? "num" : undefined, "data-label": c.label },
    c.render ? c.render(r) : String(r[c.key] ?? "–"))))) :
      h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)));
  };
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.sortable === false ? c.label :
    h("button", { type: "button", class: "sort", onclick: () => {
      dir = sortKey === c.key ? -dir : 1; sortKey = c.key; keep(); draw();
    } }, c.label))));
  draw();
  return h("div", { class: "tablewrap" }, h("table", { id }, caption ? h("caption", {}, caption) : null,
    h("thead", {}, head), tbody), more);
}

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}

export function kpi(label, value, hint) {
  return h("div", { class: "kpi" }, h("span", { class: "kpi-label" }, label), h("strong", {}, value),
    hint ? h("small", {}, hint) : null);
}

export function notice(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// Ask before acting: a modal with a body; resolves true when confirmed.
export function confirmDialog(title, body, okLabel = "Confirm") {
  const dlg = document.getElementById("confirm");
  fill(document.getElementById("confirm-title"), title);
  fill(document.getElementById("confirm-body"), body);
  const ok = document.getElementById("confirm-ok");
  ok.textContent = okLabel;
  ok.disabled = false;
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.returnValue = "";
    dlg.showModal();
  });
}
