// zeroetl console: a thin view over the JSON API (every view below is one or two GETs under
// /v1). Plain DOM (charts in charts.js); data only ever enters the page as text, never as HTML.
"use strict";

const POLL_MS = 3000;
const TOKEN_KEY = "zeroetl.token";
const $ = (id) => document.getElementById(id);

let token = null;
let selected = null; // integration id shown in the detail panel
let tab = "tables";
let minutes = 60; // chart window
let busy = false;
let again = false; // a tick was asked for while one was running: run one more after it

// --- token: from the URL fragment (never sent to the server) or the login box -----------------

function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const t = params.get("token");
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  selected = params.get("i") || selected;
  if (t) history.replaceState(null, "", location.pathname + (selected ? `#i=${selected}` : ""));
  return sessionStorage.getItem(TOKEN_KEY);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  for (const id of ["overview", "detail", "signout"]) $(id).hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  setStatus("signed out", "");
}

async function api(path, init = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (init.body) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { ...init, headers, cache: "no-store" });
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (r.status === 401) {
    signOut("The service refused this token.");
    throw new Error("unauthorized");
  }
  if (!r.ok) {
    const e = body && body.error;
    throw new Error(e ? `${e.code}: ${e.message}` : `HTTP ${r.status}`);
  }
  return body;
}

// --- formatting -------------------------------------------------------------------------------

const nf = new Intl.NumberFormat();
const fmtNum = (n) => (n === null || n === undefined ? "–" : nf.format(n));

function fmtLag(s) {
  if (s === null || s === undefined) return "–";
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}


// --- DOM helpers ------------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? "–"));
  return node;
}

const badge = (state) => el("span", { class: `badge ${state}` }, state);
const num = (v) => el("td", { class: "num" }, v);

// Rows of a table; every cell gets its column's name as data-label (narrow windows show the
// table as one card per row, label: value) and never stays empty (a card would lose a line).
function fillBody(tableId, rows, emptyText) {
  const table = $(tableId);
  const heads = [...table.tHead.rows[0].cells].map((c) => c.textContent.trim());
  for (const tr of rows) {
    [...tr.cells].forEach((td, k) => {
      td.dataset.label = heads[k] || "";
      if (!td.textContent && !td.firstElementChild) td.textContent = "–";
    });
  }
  table.tBodies[0].replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { colspan: String(heads.length), class: "muted" }, emptyText))]));
}

function setStatus(text, cls) {
  $("status").textContent = text;
  $("status").className = `status ${cls}`;
}

// --- views ------------------------------------------------------------------------------------

function renderList(items) {
  $("overview").hidden = false;
  $("no-integrations").hidden = items.length > 0;
  $("integrations").hidden = items.length === 0;
  fillBody("integrations", items.map((i) => el("tr", {
    class: i.id === selected ? "selected" : "",
    "data-id": i.id,
    on: { click: () => select(i.id) },
  },
  el("td", {}, el("strong", {}, i.name)),
  el("td", {}, badge(i.state)),
  num(fmtLag(i.lag_seconds)),
  num(`${i.tables.replicated}${i.tables.failed ? ` · ${i.tables.failed} failed` : ""}`),
  el("td", {}, `${i.source.user}@`, el("wbr"), `${i.source.host}:${i.source.port}`),
  el("td", {}, i.target_database || "(none yet)"),
  el("td", { class: "nowrap" }, fmtTime(i.created_at)))), "");
}

function select(id) {
  selected = id;
  history.replaceState(null, "", `#i=${id}`);
  tick();
}

// Everything the detail shows besides the integration itself, fetched before anything is drawn.
async function loadDetail(it) {
  const q = encodeURIComponent(it.id);
  const extra = {
    states: `/v1/integrations/${q}/state-changes?limit=1000`,
    "table-states": `/v1/integrations/${q}/tables/state-changes?limit=1000`,
    activity: `/v1/integrations/${q}/activity?limit=25`,
  }[tab];
  const [st, series, tables, more] = await Promise.all([
    api(`/v1/integrations/${q}/stats`),
    api(`/v1/integrations/${q}/series?minutes=${minutes}`),
    api(`/v1/integrations/${q}/tables?limit=1000`),
    extra ? api(extra) : null,
  ]);
  return { it, st, series, tables, more };
}

// `it` is the integration as the list of this same tick returned it, and the overview is drawn
// in the same synchronous step: state, lag and table counts in the detail are the very values
// the overview shows, never a second reading nor an older one.
function renderDetail({ it, st, series, tables, more }) {
  $("detail").hidden = false;
  $("d-name").textContent = it.name;
  $("d-state").replaceWith(Object.assign(badge(it.state), { id: "d-state" }));
  $("d-reason").textContent = it.reason || "";
  renderFacts(it);
  renderPending(it);
  renderControls(it);
  $("d-error").hidden = !it.errors.length;
  $("d-error").textContent = it.errors.map((e) => `${e.code}: ${e.message}`).join("\n");

  $("c-lag").textContent = fmtLag(it.lag_seconds);
  $("c-replicated").textContent = fmtNum(it.tables.replicated);
  $("c-failed").textContent = fmtNum(it.tables.failed);
  $("c-bytes").textContent = fmtBytes(st.data_transferred_bytes);
  $("c-insert").textContent = fmtNum(st.rows_applied.insert);
  $("c-update").textContent = fmtNum(st.rows_applied.update);
  $("c-delete").textContent = fmtNum(st.rows_applied.delete);
  const r = st.binlog_retention || {};
  $("c-headroom").textContent = r.purged_automatically === false ? "never purged"
    : r.headroom_seconds !== null && r.headroom_seconds !== undefined
      ? fmtLag(r.headroom_seconds) : "–";
  $("c-headroom").title = r.reason || "time until the source may purge the checkpoint's binlog";

  drawCharts(series);
  renderTables(it, tables.items, st.table_activity);
  if (tab === "states") renderStates(more.items);
  if (tab === "table-states") renderTableStates(more.items);
  if (tab === "activity") renderActivity(more.items);
}

let lastSeries = null;

function drawCharts(series) {
  lastSeries = series;
  lagChart($("lag-chart"), series);
  rowsChart($("rows-chart"), series);
  tablesChart($("tables-chart"), series);
  bytesChart($("bytes-chart"), series);
  const step = series.step_seconds;
  const per = `(per ${step < 120 ? `${step} s` : `${Math.round(step / 60)} min`})`;
  for (const n of document.querySelectorAll(".chart .step")) n.textContent = per;
}

function renderFacts(it) {
  $("d-id").textContent = it.id;
  $("d-description").textContent = it.description || "–";
  const tags = Object.entries(it.tags || {});
  $("d-tags").replaceChildren(...(tags.length
    ? tags.map(([k, v]) => el("span", { class: "tag" }, `${k}=${v}`)) : ["–"]));
  $("d-created").textContent = it.created_at ? new Date(it.created_at).toLocaleString() : "–";
  $("d-created").title = it.created_at || "";
  $("d-source").textContent = it.source.url;
  $("d-target").textContent = it.target_database || "(none yet)";
  $("d-destination").textContent = it.destination || "DuckDB (the warehouse)";
  $("d-filter").textContent = it.data_filter || "(all tables)";
  $("d-checkpoint").textContent = it.checkpoint || "–";
}

// --- PendingDbConnectState: the one step left, as an action and as commands to copy ---------

let pendingFor = null; // the integration whose name suggestion the input holds

const DB_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const suggestDatabase = (name) => name.toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, 63);
const sqlString = (s) => `'${s.replace(/'/g, "''")}'`;

function renderPending(it) {
  const pending = it.replication_state === "PendingDbConnectState" && !it.deleted_at;
  $("pending").hidden = !pending;
  if (!pending) { pendingFor = null; return; }
  if (pendingFor !== it.id) { // keep what the user is typing across polls
    pendingFor = it.id;
    $("pending-name").value = suggestDatabase(it.name);
  }
  updatePendingCommands();
}

function updatePendingCommands() {
  const it = current();
  const db = $("pending-name").value.trim() || "DATABASE";
  $("pending-sql").textContent = `CREATE DATABASE ${db} FROM INTEGRATION ${sqlString(it.id)};`;
  $("pending-cli").textContent = `zeroetl integration target-database ${it.name} ${db}`;
}

async function createTargetDatabase(ev) {
  ev.preventDefault();
  const it = current();
  const db = $("pending-name").value.trim();
  if (!DB_NAME.test(db)) {
    $("d-error").hidden = false;
    $("d-error").textContent = "A target database name is letters, digits and underscores, starting with a letter or underscore.";
    return;
  }
  await act(() => api(`/v1/integrations/${encodeURIComponent(it.id)}/target-database`,
    { method: "POST", body: JSON.stringify({ database_name: db }) }),
  `Target database ${db} created; the first snapshot starts.`);
}

// --- copy buttons: the text of the element named by data-copy -------------------------------

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http from another machine: no Clipboard API; the selection still copies.
  const area = el("textarea", { readonly: "", class: "offscreen" });
  area.value = text;
  document.body.append(area);
  area.select();
  try { document.execCommand("copy"); } finally { area.remove(); }
}

function wireCopy() {
  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button.copy");
    if (!b) return;
    try {
      await copyText($(b.dataset.copy).textContent);
      b.textContent = "Copied";
      b.classList.add("done");
    } catch (e) {
      b.textContent = "Select and copy";
    }
    setTimeout(() => { b.textContent = "Copy"; b.classList.remove("done"); }, 1500);
  });
}

function renderTables(it, items, activity) {
  const act = new Map(activity.map((a) => [`${a.schema}.${a.table}`, a]));
  fillBody("tables", items.map((t) => {
    const a = act.get(`${t.schema}.${t.table}`) || {};
    return el("tr", { title: t.reason || "" },
      el("td", {}, t.schema), el("td", {}, el("strong", {}, t.table)),
      el("td", {}, badge(t.state)), el("td", {}, fmtTime(t.last_change_at || t.last_updated_at)),
      num(fmtNum(t.rows)), num(fmtBytes(t.size_bytes)), num(fmtNum(a.insert ?? 0)),
      num(fmtNum(a.update ?? 0)), num(fmtNum(a.delete ?? 0)),
      el("td", {}, el("button", { type: "button", class: "small",
        on: { click: () => act_refresh(it, { tables: [`${t.schema}.${t.table}`] },
          `Re-copy table ${t.schema}.${t.table}?`) } }, "Refresh")));
  }), "No tables replicated yet.");
}

function renderStates(items) {
  fillBody("states", items.slice().reverse().map((s) => el("tr", {},
    el("td", {}, fmtTime(s.recorded_at)), el("td", {}, badge(s.state)),
    el("td", {}, s.reason || ""))), "No state changes.");
}

function renderTableStates(items) {
  fillBody("table-states", items.slice().reverse().map((s) => el("tr", {},
    el("td", {}, fmtTime(s.recorded_at)), el("td", {}, `${s.schema}.${s.table}`),
    el("td", {}, badge(s.state)), el("td", {}, s.reason || ""),
    el("td", {}, el("code", {}, s.checkpoint || "–")))),
  "No table state changes.");
}

function renderActivity(items) {
  fillBody("activity", items.map((a) => el("tr", {},
    el("td", {}, fmtTime(a.ended_at)), el("td", {}, a.checkpoint_type),
    el("td", {}, el("code", {}, a.checkpoint)), num(fmtNum(a.tables_modified)),
    num(fmtBytes(a.bytes)), el("td", {}, fmtTime(a.source_commit_at)))),
  "No activity yet.");
}

// --- actions ----------------------------------------------------------------------------------

// Pause/Resume is one button: what it does follows the state; Restart needs a running one.
function renderControls(it) {
  const paused = it.state === "paused";
  for (const b of ["refresh-all", "refresh-failed"]) $(b).disabled = !it.target_database || paused;
  $("pause").textContent = paused ? "Resume" : "Pause";
  $("pause").dataset.action = paused ? "resume" : "pause";
  $("pause").disabled = !it.target_database;
  $("restart").disabled = !it.target_database || paused;
}

function control(action) {
  const it = current();
  const ask = {
    pause: `Pause integration ${it.name}?\n\nReplication stops until you resume it (also across service restarts). Nothing is lost; the target database stays queryable.`,
    restart: `Restart integration ${it.name}?\n\nReplication stops and starts again from its checkpoint with its current settings.`,
  }[action];
  if (ask && !confirm(ask)) return;
  const done = { pause: "paused", resume: "resumed", restart: "restarted" }[action];
  act(() => api(`/v1/integrations/${encodeURIComponent(it.id)}/${action}`, { method: "POST" }),
    `Integration ${it.name} ${done}.`);
}

async function act_refresh(it, body, question) {
  if (!confirm(`${question}\n\nIntegration ${it.name}: the table(s) are copied again from the source while changes keep flowing.`)) return;
  await act(() => api(`/v1/integrations/${encodeURIComponent(it.id)}/refresh`,
    { method: "POST", body: JSON.stringify(body) }), "Refresh requested.");
}

async function act(fn, done) {
  try {
    await fn();
    setStatus(done, "live");
  } catch (e) {
    $("d-error").hidden = false;
    $("d-error").textContent = e.message;
  }
  tick();
}

function current() {
  return { id: selected, name: $("d-name").textContent };
}

function wireActions() {
  $("refresh-all").addEventListener("click", () =>
    act_refresh(current(), { all: true }, "Re-copy all tables?"));
  $("refresh-failed").addEventListener("click", () =>
    act_refresh(current(), { inerror: true }, "Re-copy the tables in error?"));
  $("pause").addEventListener("click", () => control($("pause").dataset.action || "pause"));
  $("restart").addEventListener("click", () => control("restart"));
  $("delete").addEventListener("click", () => {
    const it = current();
    if (!confirm(`Delete integration ${it.name}?\n\nReplication stops for good. The target database keeps its data (no longer updated).`)) return;
    act(() => api(`/v1/integrations/${encodeURIComponent(it.id)}`, { method: "DELETE" }),
      `Integration ${it.name} deleted.`);
  });
  for (const b of document.querySelectorAll(".range button")) {
    b.addEventListener("click", () => {
      minutes = Number(b.dataset.minutes);
      for (const o of document.querySelectorAll(".range button")) {
        o.setAttribute("aria-pressed", String(o === b));
      }
      tick();
    });
  }
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => {
      tab = b.dataset.tab;
      for (const o of document.querySelectorAll(".tabs button")) {
        o.setAttribute("aria-selected", String(o === b));
        $(`tab-${o.dataset.tab}`).hidden = o !== b;
      }
      tick();
    });
  }
  $("pending-form").addEventListener("submit", createTargetDatabase);
  $("pending-name").addEventListener("input", updatePendingCommands);
  wireCopy();
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("signout").addEventListener("click", () => signOut(""));
}

// --- polling ----------------------------------------------------------------------------------

async function tick() {
  if (!token) return;
  if (busy) { again = true; return; }
  busy = true;
  try {
    const list = await api("/v1/integrations?limit=1000");
    const items = list.items;
    if (!items.some((i) => i.id === selected || i.name === selected)) {
      selected = items.length ? items[0].id : null;
    } else {
      selected = items.find((i) => i.id === selected || i.name === selected).id;
    }
    const detail = selected ? await loadDetail(items.find((i) => i.id === selected)) : null;
    renderList(items); // no await between these two: one consistent picture
    if (detail) renderDetail(detail);
    else $("detail").hidden = true;
    setStatus(`live · updated ${new Date().toLocaleTimeString()}`, "live");
  } catch (e) {
    if (e.message !== "unauthorized") setStatus(`cannot reach the service: ${e.message}`, "down");
  } finally {
    busy = false;
    if (again) { again = false; tick(); }
  }
}

function start() {
  token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) { signOut(""); return; }
  $("login").hidden = true;
  $("signout").hidden = false;
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  wireActions();
  start();
  // A link to another integration (#i=<id or name>) selects it without a reload.
  window.addEventListener("hashchange", () => { takeTokenFromFragment(); tick(); });
  setInterval(tick, POLL_MS);
  // Charts are drawn to their element's width: redraw the last data at once on resize.
  window.addEventListener("resize", () => { if (lastSeries && !$("detail").hidden) drawCharts(lastSeries); });
});
