// Recognition dashboard: person-visit and item recognition rates by month, the seed's
// reference rate (79.07%, seed 001) as a mark line, money saved on a second axis.
(function () {
  var el = document.getElementById("rc-chart");
  if (!el || !window.echarts) return;
  var d = JSON.parse(el.dataset.chart);
  var chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { data: [d.labels.pv, d.labels.items, d.labels.saved] },
    grid: { left: 55, right: 70, top: 40, bottom: 30 },
    xAxis: { type: "category", data: d.months },
    yAxis: [
      { type: "value", name: "%", min: 0, max: 100 },
      { type: "value", name: d.labels.saved, position: "right" }
    ],
    series: [
      {
        type: "bar", name: d.labels.pv, data: d.pv,
        markLine: { symbol: "none", data: [{ yAxis: d.reference, name: d.labels.reference }],
                    label: { formatter: d.labels.reference } }
      },
      { type: "bar", name: d.labels.items, data: d.items },
      { type: "line", name: d.labels.saved, data: d.saved, yAxisIndex: 1 }
    ]
  });
  el.dataset.ready = "1";
  window.addEventListener("resize", function () { chart.resize(); });
})();
