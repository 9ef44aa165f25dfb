// Longitudinal record: one ECharts line per lab test, observed values over time.
(function () {
  var holder = document.getElementById("trend-data");
  if (!holder || !window.echarts) return;
  var charts = JSON.parse(holder.dataset.charts);
  var made = [];
  charts.forEach(function (c) {
    var el = document.getElementById(c.id);
    if (!el) return;
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 20, top: 30, bottom: 30 },
      xAxis: { type: "time" },
      yAxis: { type: "value", name: c.unit, scale: true },
      series: [{ type: "line", name: c.label, data: c.points, showSymbol: true }]
    });
    made.push(chart);
  });
  window.addEventListener("resize", function () { made.forEach(function (c) { c.resize(); }); });
})();
