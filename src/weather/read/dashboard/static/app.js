// Polls /api/state and redraws in place: no page reload, and the chart keeps which stations are hidden.
"use strict";

const REFRESH_MS = 2000;
// Ten stations, ten colours: Chart.js's own palette repeats after seven.
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
let chart = null;

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

function drawChart(data) {
  const note = document.getElementById("chart-note");
  note.textContent = data.dates.length
    ? `last ${data.days} days of committed data: ${data.dates[0]} to ${data.dates[data.dates.length - 1]}`
    : "no committed data yet";
  if (typeof Chart === "undefined") {
    note.textContent = "the chart library did not load (/vendor/chart.js): run `make setup`";
    return;
  }
  if (chart === null) {
    chart = new Chart(document.getElementById("chart"), {
      type: "line",
      data: {labels: [], datasets: []},
      options: {animation: false, maintainAspectRatio: false, spanGaps: true, elements: {point: {radius: 0}},
                interaction: {mode: "nearest", intersect: false},
                scales: {y: {title: {display: true, text: "degrees"}}}},
    });
  }
  chart.data.labels = data.dates;
  for (const [station, values] of Object.entries(data.series)) {
    let dataset = chart.data.datasets.find((d) => d.label === station);
    if (!dataset) {
      const colour = COLOURS[chart.data.datasets.length % COLOURS.length];
      dataset = {label: station, data: [], borderWidth: 1.5, borderColor: colour, backgroundColor: colour};
      chart.data.datasets.push(dataset);
    }
    dataset.data = values;
  }
  chart.data.datasets = chart.data.datasets.filter((d) => d.label in data.series);
  chart.update("none");
}

function render(state) {
  const c = state.config;
  document.getElementById("source").textContent =
    `topic ${c.topic} · ${c.data_url} · checkpoints ${c.checkpoint_dir} · MySQL ${c.mysql}`;
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
