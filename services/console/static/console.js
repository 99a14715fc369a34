// TITAN console: fills the page's <main data-page=...> from the console's /api/ JSON.
// Plain JavaScript, no build step; charts by lightweight-charts (global LightweightCharts).
// Each chart container gets data-points (points drawn) and <main> data-state (loading, ready,
// error), which the browser tests read.
"use strict";

const LC = window.LightweightCharts;
const main = document.getElementById("main");
const COLORS = ["#2962ff", "#e91e63", "#00897b", "#ff6f00", "#6a1b9a", "#546e7a"];

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${url}: HTTP ${response.status}`);
  return body;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : String(text);
  return td;
}

function num(x, digits) {
  return x === null || x === undefined ? "-" : Number(x).toFixed(digits);
}

function day(iso) {
  return iso ? String(iso).slice(0, 10) : "-";
}

function row(values) {
  const tr = document.createElement("tr");
  for (const v of values) tr.appendChild(v instanceof Node ? wrap(v) : cell(v));
  return tr;
}

function wrap(node) {
  const td = document.createElement("td");
  td.appendChild(node);
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function chart(id, lines, options) {
  const el = document.getElementById(id);
  const c = LC.createChart(el, {
    height: el.classList.contains("short") ? 160 : 240,
    layout: { background: { color: "#ffffff" }, textColor: "#333" },
    timeScale: { timeVisible: false },
    rightPriceScale: { borderVisible: false },
    ...(options || {}),
  });
  let points = 0;
  const series = lines.map((line, i) => {
    const s = c.addSeries(LC.LineSeries, {
      color: line.color || COLORS[i % COLORS.length],
      lineWidth: 1,
      title: line.title || "",
      priceLineVisible: false,
    });
    s.setData(line.data);
    points += line.data.length;
    return s;
  });
  c.timeScale().fitContent();
  el.dataset.points = String(points);
  return { chart: c, series };
}

function thresholdLines(series, t) {
  const dashed = LC.LineStyle.Dashed;
  const lines = [
    [t.entry_z, "#26a69a", "entry"], [-t.entry_z, "#26a69a", "entry"],
    [t.exit_z, "#42a5f5", "exit"], [-t.exit_z, "#42a5f5", "exit"],
    [t.stop_z, "#ef5350", "stop"], [-t.stop_z, "#ef5350", "stop"],
  ];
  for (const [price, color, title] of lines) {
    series.createPriceLine({ price, color, lineStyle: dashed, lineWidth: 1, title });
  }
}

async function pairsPage() {
  const data = await getJSON("/api/pairs");
  const body = document.querySelector("#pairs tbody");
  for (const p of data.pairs) {
    const tr = row([link(`/pairs/${encodeURIComponent(p.pair_id)}`, p.pair_id), p.state,
      day(p.since), num(p.pvalue, 4), num(p.half_life, 1), num(p.hedge_ratio, 3),
      day(p.tested_until)]);
    tr.className = `state-${p.state}`;
    tr.dataset.pairId = p.pair_id;
    body.appendChild(tr);
  }
}

async function pairPage() {
  const pairId = main.dataset.pairId;
  const d = await getJSON(`/api/pairs/${encodeURIComponent(pairId)}`);
  const [a, b] = pairId.split("~");
  const t = d.thresholds;
  const test = d.latest_test || {};
  document.getElementById("summary").textContent =
    `state ${d.pair ? d.pair.state : "-"} since ${day(d.pair && d.pair.since)}; ` +
    `p-value ${num(test.pvalue_adjusted ?? test.pvalue, 4)}, half-life ${num(test.half_life, 1)}, ` +
    `hedge ratio ${num(test.hedge_ratio, 3)}; ${d.points.drawn} of ${d.points.stored} points drawn`;
  document.getElementById("thresholds").textContent =
    `entry ±${t.entry_z}, exit ±${t.exit_z}, stop ±${t.stop_z} (parameters ${t.version})`;
  chart("chart-prices", [{ title: a, data: d.series.price_a }, { title: b, data: d.series.price_b }]);
  const spread = chart("chart-spread", [{ title: "spread", data: d.series.spread }]);
  const z = chart("chart-z", [{ title: "z", data: d.series.z_score }]);
  thresholdLines(z.series[0], t);
  if (d.markers.length) {
    LC.createSeriesMarkers(z.series[0], d.markers);
    LC.createSeriesMarkers(spread.series[0], d.markers);
  }
  document.getElementById("chart-z").dataset.markers = String(d.markers.length);
  document.getElementById("regime-scope").textContent =
    d.regime.scope === pairId ? "of this pair's spread" : `of the ${d.regime.scope} (no model of this pair yet)`;
  chart("chart-regime", d.regime.lines.map((data, k) => ({ title: `regime ${k}`, data })));
  const body = document.querySelector("#signals tbody");
  for (const s of d.signals.slice().reverse()) {
    body.appendChild(row([day(s.bar_time), s.action, num(s.z_score, 2), s.reason]));
  }
}

async function regimePage() {
  const d = await getJSON("/api/regimes");
  const body = document.querySelector("#regimes tbody");
  for (const r of d.current) {
    const probs = (r.probabilities || []).map((p) => num(p, 2)).join(" / ");
    const tr = row([r.scope, day(r.bar_time), r.regime_name || r.label || r.regime, probs,
      r.model_version]);
    tr.dataset.scope = r.scope;
    body.appendChild(tr);
  }
  chart("chart-market", d.market.lines.map((data, k) => ({ title: `regime ${k}`, data })));
}

function signalRow(s, live) {
  const tr = row([day(s.bar_time), link(`/pairs/${encodeURIComponent(s.pair_id)}`, s.pair_id),
    s.action, num(s.z_score, 2), s.regime, s.reason]);
  tr.dataset.signalId = s.signal_id;
  if (live) tr.className = "live";
  return tr;
}

async function signalsPage() {
  const d = await getJSON("/api/signals/recent");
  const body = document.querySelector("#signals tbody");
  for (const s of d.signals) body.appendChild(signalRow(s, false));
  const state = document.getElementById("stream-state");
  const source = new EventSource("/api/signals/stream");
  source.addEventListener("ready", () => {
    state.textContent = "live";
    main.dataset.stream = "ready";
  });
  source.addEventListener("signal", (event) => {
    const s = JSON.parse(event.data);
    if (body.querySelector(`tr[data-signal-id="${CSS.escape(s.signal_id)}"]`)) return;
    body.insertBefore(signalRow(s, true), body.firstChild);
  });
  source.addEventListener("error", () => {
    state.textContent = "reconnecting";
    main.dataset.stream = "reconnecting";
  });
}

async function portfolioPage() {
  const d = await getJSON("/api/portfolio");
  const state = d.risk.state;
  document.getElementById("risk").textContent = state
    ? `equity ${num(state.equity, 2)} at ${day(state.bar_time)}; gross exposure ` +
      `${num(state.gross_exposure, 2)}, drawdown ${num(state.drawdown * 100, 2)}%, ` +
      `active pairs ${state.active_pairs}${state.kill_switch ? ", KILL SWITCH ON" : ""}`
    : "no marks yet";
  chart("chart-equity", [{ title: "equity", data: d.pnl.equity }]);
  chart("chart-drawdown", [{ title: "drawdown", data: d.pnl.drawdown, color: "#ef5350" }]);
  const pairs = document.querySelector("#pair-positions tbody");
  for (const p of d.positions.pairs) {
    const { pair_id, position, ...rest } = p;
    pairs.appendChild(row([pair_id, position, JSON.stringify(rest)]));
  }
  const symbols = document.querySelector("#positions tbody");
  for (const p of d.positions.symbols) {
    const { symbol, ...rest } = p;
    symbols.appendChild(row([symbol, JSON.stringify(rest)]));
  }
}

async function backtestsPage() {
  const d = await getJSON("/api/backtests");
  const body = document.querySelector("#jobs tbody");
  for (const j of d.jobs) {
    const report = j.status === "completed"
      ? link(`/backtests/${encodeURIComponent(j.request_id)}/report`, "tearsheet") : "-";
    const tr = row([j.request_id.slice(0, 8), j.kind, j.pair_id, j.status,
      `${Math.round((j.progress || 0) * 100)}%`, day(j.created_at), report]);
    tr.dataset.status = j.status;
    body.appendChild(tr);
  }
}

const PAGES = {
  pairs: pairsPage, pair: pairPage, regime: regimePage, signals: signalsPage,
  portfolio: portfolioPage, backtests: backtestsPage,
};

async function start() {
  const page = PAGES[main.dataset.page];
  if (!page) return;
  try {
    await page();
    main.dataset.state = "ready";
  } catch (err) {
    main.dataset.state = "error";
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = String(err.message || err);
    main.prepend(p);
  }
}

start();
