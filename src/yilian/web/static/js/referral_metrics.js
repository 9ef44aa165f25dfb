// Monthly up/down referrals and the acceptance rate (双向转诊统计).
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("referral-chart");
  if (!el || typeof echarts === "undefined") return;
  var data = JSON.parse(el.dataset.chart || "{}");
  var chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { data: [el.dataset.up, el.dataset.down, el.dataset.acceptance] },
    xAxis: { type: "category", data: data.months || [] },
    yAxis: [
      { type: "value", minInterval: 1 },
      { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
    ],
    series: [
      { name: el.dataset.up, type: "bar", data: data.up || [] },
      { name: el.dataset.down, type: "bar", data: data.down || [] },
      {
        name: el.dataset.acceptance,
        type: "line",
        yAxisIndex: 1,
        data: (data.acceptance || []).map(function (v) { return v === null ? null : Math.round(v * 1000) / 10; }),
      },
    ],
  });
  window.addEventListener("resize", function () { chart.resize(); });
});
