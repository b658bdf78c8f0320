// PagePilot live dashboard: polls the worker's JSON API and draws it with Plotly.
// Everything shown that comes from visitors (session ids, pages) is set as text, never as HTML.
"use strict";

const POLL_MS = 1000;
const NETWORK_EVERY = 2;        // network redrawn every 2nd poll
const HISTORY = 300;            // points kept per chart (5 minutes)
const MODELS = ["river", "markov", "popular"];
const PLOT_CONFIG = { displaylogo: false, responsive: true };

const state = { polls: 0, history: [], network: null, selected: "", clickBound: false,
                experimentPart: "total" };  // experiment panel: "total" or "window"
window.pagepilot = state;  // for the browser test and curious people

// ---------------------------------------------------------------- helpers

// Plotly renders a few HTML-like tags inside text and hover labels: escape them.
function esc(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function fmt(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function cell(row, text, numeric = false) {
  const td = row.insertCell();
  td.textContent = text;
  if (numeric) td.className = "num";
  return td;
}

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// ---------------------------------------------------------------- key figures

function kpis(m) {
  const lag = Object.values(m.lag).flatMap(Object.values).reduce((a, b) => a + b, 0);
  const river = m.accuracy.river.window;
  return [
    ["workers", fmt(m.workers.length)],
    ["events in / s", fmt(m.rates.events_in, 1)],
    ["recommendations / s", fmt(m.rates.recommendations, 1)],
    ["events in", fmt(m.counters.events_in)],
    ["recommendations", fmt(m.counters.recommendations)],
    ["dead letters", fmt(m.counters.dead_letters)],
    ["latency p50 / p99 ms", `${fmt(m.latency_ms.p50)} / ${fmt(m.latency_ms.p99)}`],
    ["consumer lag", fmt(lag)],
    ["river HR@3 (recent)", river.events ? fmt(river.hr3, 3) : "–"],
    ["served HR@k (followed)", m.served.hit_rate === null ? "–" : fmt(m.served.hit_rate, 3)],
    ["snapshot age ms", m.snapshot_age_ms === null ? "–" : fmt(m.snapshot_age_ms)],
    ["open sessions", fmt(m.open_sessions)],
    ["mean V(s)", fmt(m.values.mean_q, 1)],
    ["mean page value", fmt(m.values.mean_page_value, 2)],
    ["memory", `${fmt(m.memory_rss_bytes / 1048576)} MiB`],
  ];
}

function drawKpis(m) {
  const box = document.getElementById("kpis");
  box.replaceChildren(...kpis(m).map(([label, value]) => {
    const tile = document.createElement("div");
    tile.className = "kpi";
    const l = document.createElement("div"); l.className = "label"; l.textContent = label;
    const v = document.createElement("div"); v.className = "value"; v.textContent = value;
    tile.append(l, v);
    return tile;
  }));
}

// ---------------------------------------------------------------- charts

function layout(title, yTitle, extra = {}) {
  return {
    title: { text: title, font: { size: 14 } }, margin: { l: 50, r: 15, t: 35, b: 35 },
    yaxis: { title: { text: yTitle }, rangemode: "tozero" }, legend: { orientation: "h", y: -0.2 },
    ...extra,
  };
}

function line(name, key) {
  return { name, mode: "lines", x: state.history.map(h => h.time), y: state.history.map(key) };
}

function drawCharts(m) {
  Plotly.react("chart-throughput", [
    line("events in / s", h => h.rates.events_in),
    line("recommendations / s", h => h.rates.recommendations),
    line("dead letters / s", h => h.rates.dead_letters),
  ], layout("Throughput", "per second"), PLOT_CONFIG);
  Plotly.react("chart-latency", [
    line("p50", h => h.latency_ms.p50), line("p95", h => h.latency_ms.p95),
    line("p99", h => h.latency_ms.p99),
  ], layout("Latency, ingest to publish (last 60 s)", "ms"), PLOT_CONFIG);
  Plotly.react("chart-accuracy", [...MODELS.map(name =>
    line(name, h => h.accuracy[name].window.events ? h.accuracy[name].window.hr3 : null)),
    line("served (followed)", h => h.served.hit_rate_recent)],
    layout("Next-page HR@3 (prequential, recent) and served HR@k (last 10 s)", "hit rate",
           { yaxis: { title: { text: "hit rate" }, range: [0, 1] } }), PLOT_CONFIG);
  const bars = Object.entries(m.lag).map(([topic, parts]) => ({
    type: "bar", name: esc(topic), x: Object.keys(parts).map(p => `p${p}`), y: Object.values(parts),
  }));
  Plotly.react("chart-lag", bars, layout("Consumer lag per partition", "messages",
                                         { barmode: "group" }), PLOT_CONFIG);
}

// ---------------------------------------------------------------- experiment

const ARM_METRICS = [["hit_rate", 3], ["value_per_session", 2], ["conversion", 3]];  // [name, digits]
const ESTIMATORS = ["ips", "snips", "dr"];

function signed(value, digits) {  // "+0.000" for a small positive value, so its sign shows
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return (value > 0 ? "+" : value < 0 ? "-" : "") + fmt(Math.abs(value), digits);
}

// A mean with its 95 % interval: "0.412 [0.398, 0.426]" ("–" for what is not known yet).
function interval(m, digits, format = fmt) {
  if (!m || m.mean === null || m.mean === undefined) return "–";
  return `${format(m.mean, digits)} [${format(m.low, digits)}, ${format(m.high, digits)}]`;
}

function significant(d) {  // as stream.core.estimates.significant: the interval excludes zero
  return d.low !== null && d.low !== undefined && (d.low > 0 || d.high < 0);
}

function intervalCell(row, m, digits) {
  const td = cell(row, interval(m, digits), true);
  if (m && m.n) td.title = `n ${fmt(m.n)}` + (m.se === null ? "" : `, standard error ${fmt(m.se, digits + 1)}`);
  return td;
}

// A variant's mean with its interval, and below it its difference to the control.
function armCell(row, m, d, digits, isControl) {
  const td = intervalCell(row, m, digits);
  td.replaceChildren();
  const mean = document.createElement("div");
  mean.className = "mean";
  mean.textContent = interval(m, digits);
  td.append(mean);
  if (isControl) return td;
  const delta = document.createElement("div");
  delta.className = "delta";
  delta.textContent = `Δ ${interval(d, digits, signed)}`;
  if (d && significant(d)) {
    const up = d.low > 0;
    delta.classList.add("significant", up ? "up" : "down");
    delta.textContent += up ? " ▲" : " ▼";
    delta.title = "its 95 % interval excludes zero";
  }
  td.append(delta);
  return td;
}

// The served variants: the control first, then the others by name.
function servedVariants(m, figures) {
  const names = new Set([...Object.keys(m.variants), ...Object.keys(figures.variants)]);
  const control = m.experiment.control;
  return [...names].sort((a, b) => (b === control) - (a === control) || a.localeCompare(b));
}

function drawExperiment(m) {
  const exp = m.experiment;
  if (!exp) return;
  const part = state.experimentPart, figures = exp[part];
  const windowButton = document.querySelector('#experiment-part [data-part="window"]');
  windowButton.textContent = exp.window_s === null ? "window" : `last ${fmt(exp.window_s)} s`;
  for (const button of document.querySelectorAll("#experiment-part button")) {
    button.setAttribute("aria-pressed", String(button.dataset.part === part));
  }
  const names = servedVariants(m, figures);
  const single = names.length <= 1;
  document.getElementById("experiment-info").textContent =
    exp.control === null ? "no figures from a worker yet"
    : single ? `one policy only (${exp.control}): its figures, nothing to compare them with`
    : `control: ${exp.control}; ${names.length} served variants`;

  const body = document.querySelector("#experiment-variants tbody");
  body.replaceChildren();
  for (const name of names) {
    const counts = m.variants[name] || {}, arm = figures.variants[name] || {};
    const isControl = name === exp.control;
    const row = body.insertRow();
    row.dataset.variant = name;
    if (isControl) row.className = "control";
    cell(row, isControl && !single ? `${name} (control)` : name);
    for (const key of ["sessions", "page_views", "explored"]) cell(row, fmt(counts[key]), true);
    cell(row, fmt(arm.hit_rate ? arm.hit_rate.n : 0), true);
    for (const [metric, digits] of ARM_METRICS) {
      armCell(row, arm[metric], (arm.vs_control || {})[metric], digits, isControl);
    }
  }

  const targets = Object.entries(figures.offpolicy);
  const offTable = document.getElementById("experiment-offpolicy");
  offTable.hidden = targets.length === 0;
  document.getElementById("experiment-offpolicy-none").textContent = targets.length ? ""
    : single ? "No off-policy targets: they are the other variants and the shadows of an " +
               "experiment file, estimated from the logs of an exploring variant."
    : "No off-policy estimates yet: they come from the page views of exploring variants " +
      "(epsilon > 0) once their sessions end.";
  const offBody = offTable.querySelector("tbody");
  offBody.replaceChildren();
  for (const [target, estimate] of targets) {
    const hit = estimate.hit || {};
    const row = offBody.insertRow();
    row.dataset.target = target;
    cell(row, target);
    cell(row, estimate.support === null ? "–" : `${fmt(100 * estimate.support)} %`, true);
    cell(row, fmt(hit.ips ? hit.ips.n : 0), true);
    for (const estimator of ESTIMATORS) intervalCell(row, hit[estimator], 3);
    const ess = cell(row, fmt(hit.ess), true);
    if (hit.mean_weight !== undefined) ess.title = `mean weight ${fmt(hit.mean_weight, 3)}`;
  }
}

// ---------------------------------------------------------------- network

const EDGE_WIDTHS = [[0.4, 5], [0.2, 3.5], [0.1, 2], [0, 1]];  // probability >= p: width

function edgeTraces(net, at) {
  const groups = new Map(EDGE_WIDTHS.map(([, width]) => [width, { x: [], y: [] }]));
  for (const e of net.edges) {
    const width = EDGE_WIDTHS.find(([p]) => e.probability >= p)[1];
    const g = groups.get(width);
    g.x.push(at[e.source].x, at[e.target].x, null);
    g.y.push(at[e.source].y, at[e.target].y, null);
  }
  return [...groups].map(([width, g]) => ({
    x: g.x, y: g.y, mode: "lines", hoverinfo: "skip", showlegend: false,
    line: { width, color: "rgba(123,135,148,0.45)" },
  }));
}

function arrows(net, at) {  // each node's recommended next page
  return net.edges.filter(e => e.recommended).map(e => ({
    x: at[e.target].x, y: at[e.target].y, ax: at[e.source].x, ay: at[e.source].y,
    xref: "x", yref: "y", axref: "x", ayref: "y", showarrow: true, text: "",
    arrowhead: 3, arrowsize: 1.2, arrowwidth: 2.5, arrowcolor: "#e8590c",
    standoff: 12, startstandoff: 8, opacity: 0.9,
  }));
}

function nodeTrace(net) {
  const most = Math.max(1, ...net.nodes.map(n => n.visitors));
  return {
    x: net.nodes.map(n => n.x), y: net.nodes.map(n => n.y), mode: "markers+text",
    text: net.nodes.map(n => esc(n.cluster)), textposition: "top center",
    textfont: { size: 11 }, customdata: net.nodes.map(n => n.cluster), showlegend: false,
    hovertext: net.nodes.map(n =>
      `${esc(n.cluster)}<br>visitors ${fmt(n.visitors)}<br>page value ${fmt(n.page_value, 2)}` +
      `<br>V(s) ${fmt(n.value, 1)}<br>next: ${esc(n.recommended || "–")}`),
    hoverinfo: "text",
    marker: {
      size: net.nodes.map(n => 10 + 34 * Math.sqrt(n.visitors / most)),
      color: net.nodes.map(n => n.page_value), colorscale: "Viridis", showscale: true,
      colorbar: { title: { text: "page value" }, thickness: 12 },
      line: { width: net.nodes.map(n => n.cluster === state.selected ? 4 : 1),
              color: net.nodes.map(n => n.cluster === state.selected ? "#e8590c" : "#fff") },
    },
  };
}

function drawNetwork(net) {
  state.network = net;
  const at = Object.fromEntries(net.nodes.map(n => [n.cluster, n]));
  const hidden = { visible: false, fixedrange: true };
  Plotly.react("network", [...edgeTraces(net, at), nodeTrace(net)], {
    title: { text: "Page clusters: size = traffic, colour = page value, orange arrow = recommended next page",
             font: { size: 14 } },
    margin: { l: 10, r: 10, t: 40, b: 10 }, xaxis: hidden, yaxis: hidden,
    annotations: arrows(net, at), hovermode: "closest", clickmode: "event",
  }, PLOT_CONFIG);
  if (!state.clickBound) {  // Plotly's event API exists once the plot does
    document.getElementById("network").on("plotly_click", ev => {
      const point = ev.points.find(p => p.customdata !== undefined);
      if (point) { showPage(point.customdata); drawNetwork(state.network); }
    });
    state.clickBound = true;
  }
  fillSelect(net);
  showPage(state.selected);
}

function fillSelect(net) {
  const select = document.getElementById("page-select");
  const names = net.nodes.map(n => n.cluster);
  if (select.options.length - 1 === names.length) return;
  select.replaceChildren(select.options[0], ...names.map(name => new Option(name, name)));
  select.value = state.selected;
}

function showPage(cluster) {
  state.selected = cluster;
  document.getElementById("page-select").value = cluster;
  const node = state.network && state.network.nodes.find(n => n.cluster === cluster);
  const info = document.getElementById("page-info");
  const body = document.querySelector("#page-recs tbody");
  body.replaceChildren();
  if (!node) { info.textContent = ""; return; }
  const source = node.fallback ? `${node.fallback} fallback` : "river model";
  info.textContent = node.items.length
    ? `${cluster}: ${fmt(node.visitors)} visitors, page value ${fmt(node.page_value, 2)}, ` +
      `V(s) ${fmt(node.value, 1)}, exit rate ${fmt(100 * node.exit_rate)} %. ` +
      `Latest recommendation (${source}):`
    : `${cluster}: no recommendation published yet.`;
  for (const item of node.items) {
    const row = body.insertRow();
    row.className = "rec";
    cell(row, item.cluster);
    cell(row, fmt(item.score, 3), true);
    cell(row, fmt(item.probability, 3), true);
    cell(row, fmt(item.q, 1), true);
    cell(row, fmt(item.page_value, 2), true);
  }
}

// ---------------------------------------------------------------- feed

function drawFeed(m) {
  const body = document.querySelector("#feed tbody");
  body.replaceChildren();
  for (const rec of [...m.recent].reverse()) {
    const row = body.insertRow();
    cell(row, new Date(rec.publish_time).toLocaleTimeString());
    cell(row, rec.session_id);
    cell(row, rec.cluster);
    cell(row, rec.cold ? "(cold start)" : rec.items.map(i =>
      `${i.cluster} (p ${fmt(i.probability, 2)}, Q ${fmt(i.q, 0)})`).join(", "));
    cell(row, rec.fallback || "river");
    cell(row, `${fmt(rec.publish_time - rec.ingest_time)} ms`, true);
  }
}

// ---------------------------------------------------------------- loop

async function poll() {
  const status = document.getElementById("status");
  try {
    const m = await getJSON("/api/metrics");
    state.history.push({ ...m, time: new Date(m.time * 1000) });
    if (state.history.length > HISTORY) state.history.shift();
    drawKpis(m);
    drawExperiment(m);
    drawCharts(m);
    drawFeed(m);
    if (state.polls % NETWORK_EVERY === 0) drawNetwork(await getJSON("/api/network"));
    state.polls += 1;
    status.className = "status";
    status.textContent = `${m.workers.length} worker(s), updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    status.className = "status error";
    status.textContent = `cannot reach the worker (${err.message}); retrying`;
  }
  setTimeout(poll, POLL_MS);
}

document.getElementById("page-select").addEventListener("change", e => showPage(e.target.value));
for (const button of document.querySelectorAll("#experiment-part button")) {
  button.addEventListener("click", () => {
    state.experimentPart = button.dataset.part;
    if (state.history.length) drawExperiment(state.history[state.history.length - 1]);
  });
}
poll();
