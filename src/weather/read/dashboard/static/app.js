// Polls /api/state and redraws in place: no page reload.
"use strict";

const REFRESH_MS = 2000;
// Ten stations, ten colours: Chart.js's own palette repeats after seven.
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];

const fmt = (value, digits = 0) =>
  value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US", {
    minimumFractionDigits: digits, maximumFractionDigits: digits});

const ago = (seconds) => {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 120) return `${fmt(seconds, 1)} s`;
  if (seconds < 7200) return `${fmt(seconds / 60, 1)} min`;
  return `${fmt(seconds / 3600, 1)} h`;
};

function fillTable(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows);
}

function row(cells, attributes = {}) {
  const tr = document.createElement("tr");
  for (const [name, value] of Object.entries(attributes)) tr.setAttribute(name, value);
  for (const [text, className] of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    tr.append(td);
  }
  return tr;
}

function showBanners(messages) {
  const banners = messages.map((text) => {
    const div = document.createElement("div");
    div.className = "banner";
    div.textContent = text;
    return div;
  });
  document.getElementById("banners").replaceChildren(...banners);
}

// One small chart per station, all on one scale: ten raw daily lines over a year read as noise, one
// station's 7-day mean over its daily dots does not. Hovering shows the day's reading and the mean.
const charts = new Map();  // station -> its Chart
let drawn = "";  // the chart data last drawn, as JSON: redraw only when it changed

// The y axis every station's chart shares: round steps, at most five of them, around every daily reading.
const STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 250, 500, 1000];

function scaleOf(data) {
  const values = Object.values(data.series).flat().filter((v) => v !== null);
  if (!values.length) return {};
  const low = Math.min(...values), high = Math.max(...values, low + 1);
  const stepSize = STEPS.find((step) => (high - low) / step <= 5) ?? STEPS.at(-1);
  return {min: Math.floor(low / stepSize) * stepSize, max: Math.ceil(high / stepSize) * stepSize, stepSize};
}

const shortDate = (date) => new Date(date).toLocaleDateString("en-US", {month: "short", day: "numeric",
                                                                        timeZone: "UTC"});

function stationChart(station, colour) {
  const figure = document.createElement("figure");
  figure.className = "panel";
  figure.dataset.station = station;
  const caption = document.createElement("figcaption");
  caption.textContent = station;
  caption.style.borderColor = colour;
  const box = document.createElement("div");
  box.className = "panel-box";
  const canvas = document.createElement("canvas");
  canvas.dataset.station = station;
  box.append(canvas);
  figure.append(caption, box);
  document.getElementById("charts").append(figure);
  const degrees = (value) => `${Number(value).toFixed(2)} °`;
  return new Chart(canvas, {
    type: "line",
    data: {labels: [], datasets: [
      {label: "7-day mean", data: [], borderColor: colour, backgroundColor: colour, borderWidth: 2, pointRadius: 0,
       spanGaps: true, order: 0},
      {label: "daily", data: [], showLine: false, pointRadius: 1.2, pointHoverRadius: 3, borderWidth: 0,
       backgroundColor: `${colour}66`, order: 1},
    ]},
    options: {animation: false, maintainAspectRatio: false, interaction: {mode: "index", intersect: false},
              plugins: {legend: {display: false},
                        tooltip: {callbacks: {label: (item) => `${item.dataset.label}: ${degrees(item.raw)}`}}},
              scales: {x: {ticks: {maxRotation: 0, autoSkipPadding: 24,
                                   callback(value) { return shortDate(this.getLabelForValue(value)); }}},
                       y: {ticks: {}}}},
  });
}

function drawChart(data) {
  const note = document.getElementById("chart-note");
  note.textContent = data.dates.length
    ? `last ${data.days} days of committed data: ${data.dates[0]} to ${data.dates[data.dates.length - 1]}`
    : "no committed data yet";
  if (typeof Chart === "undefined") {
    note.textContent = "the chart library did not load (/vendor/chart.js): run `make setup`";
    return;
  }
  const json = JSON.stringify(data);
  if (json === drawn) return;
  drawn = json;
  const scale = scaleOf(data);
  Object.keys(data.series).forEach((station, index) => {
    if (!charts.has(station)) charts.set(station, stationChart(station, COLOURS[index % COLOURS.length]));
    const chart = charts.get(station);
    chart.data.labels = data.dates;
    chart.data.datasets[0].data = data.rolling_mean[station];
    chart.data.datasets[1].data = data.series[station];
    Object.assign(chart.options.scales.y, {min: scale.min, max: scale.max});
    chart.options.scales.y.ticks.stepSize = scale.stepSize;
    chart.update("none");
  });
  for (const [station, chart] of charts) {
    if (station in data.series) continue;
    chart.canvas.closest("figure").remove();
    chart.destroy();
    charts.delete(station);
  }
}

function render(state) {
  const c = state.config;
  document.getElementById("source").textContent =
    `topic ${c.topic} · ${c.data_url} · checkpoints ${c.checkpoint_dir} · table ${c.table_url} · MySQL ${c.mysql}`;
  showBanners(state.errors.map((e) => `${e.server} at ${e.address}: ${e.message}`));
  document.getElementById("mysql-rows").textContent = fmt(state.totals.mysql_rows);
  document.getElementById("committed-rows").textContent = fmt(state.totals.committed_rows);
  document.getElementById("rate").textContent = fmt(state.totals.rows_per_second, 1);
  drawChart(state.chart);
  fillTable("stations", state.stations.map((s) => row([
    [s.station_id], [fmt(s.rows)], [s.first_date], [s.last_date], [fmt(s.mean, 2)], [fmt(s.min, 2)], [fmt(s.max, 2)],
  ], {"data-station": s.station_id})));
  fillTable("partitions", state.partitions.map((p) => row([
    [p.partition], [fmt(p.batch_id), "batch"], [fmt(p.offset), "offset"], [fmt(p.log_end_offset), "end"],
    [fmt(p.lag_messages), "lag"], [p.lag_seconds === null ? "–" : fmt(p.lag_seconds, 1)], [fmt(p.rows), "rows"],
    [p.rows_per_file === null ? "–" : `${fmt(p.rows_per_file, 1)} (${fmt(p.last_file_rows)})`],
    [ago(p.seconds_since_commit)], [p.message, "note"],
  ], {"data-partition": p.partition, "class": p.status})));
  document.getElementById("updated").textContent = `updated ${state.updated}`;
}

async function refresh() {
  try {
    const response = await fetch("/api/state", {cache: "no-store"});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    // Keep the last figures on screen and say why they are not moving.
    showBanners([`The dashboard server is not answering (${error.message}); showing the last figures.`]);
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
