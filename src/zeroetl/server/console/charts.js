// zeroetl console charts: inline SVG sized to its element (text is never stretched), drawn
// from the series JSON of /v1/integrations/{id}/series. Loaded before app.js.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

const hhmm = (epoch) =>
  new Date(epoch * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

const CH = { h: 200, left: 44, right: 8, top: 10, bottom: 22 };

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

// Frame: axes, y ticks (fmtY), at most 7 x ticks on round times; returns the x and y scales.
function frame(svg, series, ymax, fmtY) {
  const w = Math.max(300, Math.round(svg.getBoundingClientRect().width) || 600);
  svg.setAttribute("viewBox", `0 0 ${w} ${CH.h}`);
  svg.replaceChildren();
  const pts = series.points;
  const t0 = pts[0].t;
  const t1 = pts[pts.length - 1].t + series.step_s;
  const x = (t) => CH.left + ((t - t0) / (t1 - t0)) * (w - CH.left - CH.right);
  const y = (v) => CH.top + (1 - v / ymax) * (CH.h - CH.top - CH.bottom);
  for (const v of [0, ymax / 2, ymax]) {
    svg.append(svgEl("line", { class: "axis", x1: CH.left, x2: w - CH.right, y1: y(v), y2: y(v) }));
    svg.append(svgEl("text", { class: "tick", x: CH.left - 6, y: y(v) + 4, "text-anchor": "end" },
      fmtY(v)));
  }
  const every = [60, 300, 600, 1800, 3600, 7200, 14400].find((e) => (t1 - t0) / e <= 7) || 28800;
  for (let t = Math.ceil(t0 / every) * every; t <= t1; t += every) {
    svg.append(svgEl("text", { class: "tick", x: x(t), y: CH.h - 4, "text-anchor": "middle" },
      hhmm(t)));
  }
  return { x, y, w };
}

function lagChart(svg, series) {
  const pts = series.points;
  const lags = pts.map((p) => p.lag_s).filter((v) => v !== null);
  const ymax = niceMax(Math.max(1, ...lags));
  const { x, y } = frame(svg, series, ymax, (v) => (v ? `${+v.toFixed(2)} s` : "0"));
  const half = series.step_s / 2;
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
    if (p.lag_s === null) flush();
    else run.push([x(p.t + half), y(p.lag_s)]);
  }
  flush();
  if (!lags.length) {
    svg.append(svgEl("text", { class: "empty", x: "50%", y: CH.h / 2, "text-anchor": "middle" },
      "no changes applied in this window"));
    return;
  }
  svg.append(svgEl("path", { class: "lag-area", d: area }));
  svg.append(svgEl("path", { class: "lag-line", d: line }));
  pts.forEach((p, k) => { // a bucket with no neighbour would be invisible as a line: a dot
    const lone = p.lag_s !== null && pts[k - 1]?.lag_s == null && pts[k + 1]?.lag_s == null;
    if (lone) svg.append(svgEl("circle", { class: "lag-dot", cx: x(p.t + half), cy: y(p.lag_s), r: 3 }));
  });
}

function rowsChart(svg, series) {
  const pts = series.points;
  const total = (p) => p.insert + p.update + p.delete;
  const ymax = niceMax(Math.max(1, ...pts.map(total)));
  const fmtY = (v) => (v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${+v.toFixed(1)}`);
  const { x, y } = frame(svg, series, ymax, fmtY);
  const bw = Math.max(1, x(pts[0].t + series.step_s) - x(pts[0].t) - 1);
  for (const p of pts) {
    let base = 0;
    for (const op of ["insert", "update", "delete"]) {
      if (!p[op]) continue;
      const top = base + p[op];
      svg.append(svgEl("rect", {
        class: `bar ${op.slice(0, 3)}`, x: x(p.t).toFixed(1), width: bw.toFixed(1),
        y: y(top).toFixed(1), height: Math.max(0.5, y(base) - y(top)).toFixed(1),
      }, undefined));
      base = top;
    }
  }
}
