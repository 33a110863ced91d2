// Line charts on the vendored uPlot (web/vendor/uplot, MIT). One chart per container, redrawn in place.
const COLORS = ["#2b7bd6", "#d9534f", "#2e9e5b", "#e0a100", "#8a4fd1", "#17a2b8", "#e36f2c", "#6c757d"];
const charts = new WeakMap();

// t: (B,) Unix seconds; series: [{label, values (B,) with nulls}]; marks: Unix seconds of migrations.
export function lineChart(container, t, series, marks = []) {
  const old = charts.get(container);
  if (old) old.destroy();
  container.replaceChildren();
  const width = Math.max(280, container.clientWidth || 600);
  const opts = {
    width,
    height: 220,
    scales: { y: { range: [0, 100] } },
    axes: [{ stroke: "currentColor" }, { stroke: "currentColor", values: (u, v) => v.map((x) => `${x}%`) }],
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5,
      spanGaps: true, points: { show: false } }))],
    hooks: { draw: [(u) => drawMarks(u, marks)] },
  };
  const chart = new window.uPlot(opts, [t, ...series.map((s) => s.values)], container);
  charts.set(container, chart);
  const resize = () => chart.setSize({ width: Math.max(280, container.clientWidth), height: 220 });
  new ResizeObserver(resize).observe(container);
  return chart;
}

function drawMarks(u, marks) {
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = "#e0a100";
  ctx.setLineDash([4, 3]);
  for (const t of marks) {
    const x = Math.round(u.valToPos(t, "x", true));
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
  }
  ctx.restore();
}
