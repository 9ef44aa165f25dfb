// Chronic care: BP and glucose trends of a person; indicator bars by centre (ECharts).
(function () {
  if (!window.echarts) return;
  var made = [];
  function line(id, unit, series) {
    var el = document.getElementById(id);
    if (!el) return;
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: {},
      grid: { left: 50, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "time" },
      yAxis: { type: "value", name: unit, scale: true },
      series: series.map(function (s) {
        return { type: "line", name: s.name, data: s.data, showSymbol: true,
                 markLine: s.target ? { silent: true, symbol: "none", data: [{ yAxis: s.target }] } : undefined };
      })
    });
    made.push(chart);
  }
  var holder = document.getElementById("chronic-data");
  if (holder) {
    var d = JSON.parse(holder.dataset.charts);
    var labels = JSON.parse(holder.dataset.labels);
    var pts = function (rows) { return rows.map(function (r) { return [r[0], r[1]]; }); };
    line("chronic-bp", "mmHg", [
      { name: labels.sbp, data: pts(d.sbp), target: 140 },
      { name: labels.dbp, data: pts(d.dbp), target: 90 }
    ]);
    line("chronic-glucose", "mmol/L", [{ name: labels.glucose, data: pts(d.glucose), target: 7.0 }]);
  }
  var ind = document.getElementById("chronic-indicator-data");
  var el = document.getElementById("chronic-indicator-chart");
  if (ind && el) {
    var c = JSON.parse(ind.dataset.chart);
    var names = JSON.parse(ind.dataset.labels);
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: {},
      grid: { left: 50, right: 20, top: 40, bottom: 80 },
      xAxis: { type: "category", data: c.names, axisLabel: { rotate: 30 } },
      yAxis: { type: "value", max: 100, name: "%" },
      series: [
        { type: "bar", name: names[0], data: c.standard },
        { type: "bar", name: names[1], data: c.control }
      ]
    });
    made.push(chart);
  }
  window.addEventListener("resize", function () { made.forEach(function (c) { c.resize(); }); });
})();
