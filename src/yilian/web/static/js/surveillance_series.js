// One surveillance series: observed counts, each method's expected value and upper bound, alarms.
(function () {
  function draw() {
    var holder = document.getElementById("series-data");
    var el = document.getElementById("series-chart");
    if (!holder || !el || !window.echarts) return;
    var c = JSON.parse(holder.dataset.chart);
    var L = JSON.parse(holder.dataset.labels);
    var series = [{
      type: "bar", name: L.observed, data: c.points.map(function (p) { return [p.day, p.count]; }),
      itemStyle: { color: "#7aa6d8" }
    }];
    var alarms = [];
    Object.keys(c.results).forEach(function (m) {
      var rs = c.results[m];
      series.push({ type: "line", name: L.expected + " " + m, showSymbol: false,
        data: rs.map(function (r) { return [r.day, r.expected]; }) });
      series.push({ type: "line", name: L.upper + " " + m, showSymbol: false, lineStyle: { type: "dashed" },
        data: rs.map(function (r) { return [r.day, r.upper]; }) });
      rs.forEach(function (r) { if (r.alarm) alarms.push([r.day, r.observed, m]); });
    });
    series.push({ type: "scatter", name: L.alarm, data: alarms, symbolSize: 12,
      itemStyle: { color: "#c21f1f" } });
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "time" },
      yAxis: { type: "value" },
      series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
