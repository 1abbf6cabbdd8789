// Draws the dashboard's charts from the JSON the server put in the page.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const palette = ["#b22222", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
  const categories = Object.keys(data.matches_by_category);
  const charts = {};
  charts.matches = new Chart(document.getElementById("matches-chart"), {
    type: "bar",
    data: {
      labels: data.days,
      datasets: categories.map((name, i) => ({
        label: name,
        data: data.matches_by_category[name],
        backgroundColor: palette[i % palette.length],
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
  charts.decisions = new Chart(document.getElementById("decisions-chart"), {
    type: "line",
    data: {
      labels: data.days,
      datasets: [
        { label: "blocked", data: data.blocks, borderColor: "#b22222", pointRadius: 0 },
        { label: "review", data: data.reviews, borderColor: "#ff7f0e", pointRadius: 0 },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
  // For tests and for anyone inspecting the page: what the charts were given.
  window.hashwallCharts = charts;
  document.body.dataset.chartsReady = "true";
})();
