// zeroetl console charts: inline SVG sized to its element (text is never stretched), drawn
// from the series JSON of /v1/integrations/{id}/series. Loaded before app.js.
// Every chart marks its newest data point (class "newest", data-t = the bucket's start) so a
// reader, and the browser test, can tell the latest bucket is on screen.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

const hhmm = (epoch) =>
  new Date(epoch * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

const CH = { h: 200, left: 48, right: 10, top: 10, bottom: 22 };

function svgEl(tag, attrs, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

// Frame: axes, y ticks (fmtY), x ticks on round times (as many as the width has room for);
// returns the x and y scales.
function frame(svg, series, ymax, fmtY) {
  const w = Math.max(200, Math.round(svg.getBoundingClientRect().width) || 600);
  svg.setAttribute("viewBox", `0 0 ${w} ${CH.h}`);
  svg.replaceChildren();
  const pts = series.points;
  const t0 = pts[0].t;
  const t1 = pts[pts.length - 1].t + series.step_seconds;
  const x = (t) => CH.left + ((t - t0) / (t1 - t0)) * (w - CH.left - CH.right);
  const y = (v) => CH.top + (1 - v / ymax) * (CH.h - CH.top - CH.bottom);
  for (const v of [0, ymax / 2, ymax]) {
    svg.append(svgEl("line", { class: "axis", x1: CH.left, x2: w - CH.right, y1: y(v), y2: y(v) }));
    svg.append(svgEl("text", { class: "tick", x: CH.left - 6, y: y(v) + 4, "text-anchor": "end" },
      fmtY(v)));
  }
  const room = Math.max(2, Math.floor((w - CH.left - CH.right) / 64));
  const every = [60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400]
    .find((e) => (t1 - t0) / e <= room) || 172800;
  for (let t = Math.ceil(t0 / every) * every; t <= t1; t += every) {
    const px = x(t);
    if (px < CH.left + 18 || px > w - CH.right - 18) continue; // a label cut by the edge
    svg.append(svgEl("text", { class: "tick", x: px, y: CH.h - 4, "text-anchor": "middle" },
      hhmm(t)));
  }
  return { x, y, w };
}

function emptyNote(svg, text) {
  svg.append(svgEl("text", { class: "empty", x: "50%", y: CH.h / 2, "text-anchor": "middle" },
    text));
}

function newestDot(svg, cx, cy, t) {
  svg.append(svgEl("circle", { class: "newest", cx, cy, r: 3.5, "data-t": t }));
}

function lagChart(svg, series) {
  const pts = series.points;
  const lags = pts.map((p) => p.lag_seconds).filter((v) => v !== null);
  const ymax = niceMax(Math.max(1, ...lags));
  const { x, y } = frame(svg, series, ymax, (v) => (v ? `${+v.toFixed(2)} s` : "0"));
  const half = series.step_seconds / 2;
  let line = "";
  let area = "";
  let run = [];
  const flush = () => {
    if (!run.length) return;
    const d = run.map(([px, py], k) => `${k ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join("");
    line += d;
    area += `${d}L${run[run.length - 1][0].toFixed(1)},${y(0)}L${run[0][0].toFixed(1)},${y(0)}Z`;
    run = [];
  };
  for (const p of pts) {
    if (p.lag_seconds === null) flush();
    else run.push([x(p.t + half), y(p.lag_seconds)]);
  }
  flush();
  if (!lags.length) {
    emptyNote(svg, "no changes applied in this window");
    return;
  }
  svg.append(svgEl("path", { class: "lag-area", d: area }));
  svg.append(svgEl("path", { class: "lag-line", d: line }));
  pts.forEach((p, k) => { // a bucket with no neighbour would be invisible as a line: a dot
    const lone = p.lag_seconds !== null && pts[k - 1]?.lag_seconds == null && pts[k + 1]?.lag_seconds == null;
    if (lone) svg.append(svgEl("circle", { class: "lag-dot", cx: x(p.t + half), cy: y(p.lag_seconds), r: 3 }));
  });
  const last = pts.filter((p) => p.lag_seconds !== null).pop();
  newestDot(svg, x(last.t + half), y(last.lag_seconds), last.t);
}

// Stacked bars per bucket; `parts` are [field, css class] pairs.
function barChart(svg, series, parts, fmtY, emptyText) {
  const pts = series.points;
  const total = (p) => parts.reduce((s, [f]) => s + p[f], 0);
  const ymax = niceMax(Math.max(1, ...pts.map(total)));
  const { x, y } = frame(svg, series, ymax, fmtY);
  const bw = Math.max(1, x(pts[0].t + series.step_seconds) - x(pts[0].t) - 1);
  for (const p of pts) {
    let base = 0;
    for (const [f, cls] of parts) {
      if (!p[f]) continue;
      const top = base + p[f];
      svg.append(svgEl("rect", {
        class: `bar ${cls}`, x: x(p.t).toFixed(1), width: bw.toFixed(1),
        y: y(top).toFixed(1), height: Math.max(0.5, y(base) - y(top)).toFixed(1),
      }));
      base = top;
    }
  }
  const last = pts.filter((p) => total(p) > 0).pop();
  if (!last) {
    emptyNote(svg, emptyText);
    return;
  }
  newestDot(svg, x(last.t) + bw / 2, y(total(last)), last.t);
}

const fmtCount = (v) => (v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${+v.toFixed(1)}`);

function rowsChart(svg, series) {
  barChart(svg, series, [["insert", "ins"], ["update", "upd"], ["delete", "del"]], fmtCount,
    "no rows applied in this window");
}

function bytesChart(svg, series) {
  barChart(svg, series, [["bytes", "bytes"]], (v) => (v ? fmtBytes(v) : "0"),
    "no data transferred in this window");
}

// Tables replicated and failed at the end of each bucket, as step lines.
function tablesChart(svg, series) {
  const pts = series.points;
  const ymax = niceMax(Math.max(1, ...pts.map((p) => p.tables_replicated + p.tables_failed)));
  const { x, y } = frame(svg, series, ymax, (v) => `${+v.toFixed(1)}`);
  const end = (p) => p.t + series.step_seconds;
  for (const [field, cls] of [["tables_replicated", "ok"], ["tables_failed", "bad"]]) {
    let d = `M${x(pts[0].t).toFixed(1)},${y(pts[0][field]).toFixed(1)}`;
    for (const p of pts) d += `V${y(p[field]).toFixed(1)}H${x(end(p)).toFixed(1)}`;
    svg.append(svgEl("path", { class: `step-line ${cls}`, d }));
  }
  const last = pts[pts.length - 1];
  newestDot(svg, x(end(last)), y(last.tables_replicated), last.t);
}
