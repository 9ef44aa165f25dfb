// 家庭医生签约看板: coverage bars against the 48% / 80% targets (dashed target lines).
(function () {
  function draw() {
    var holder = document.getElementById("fd-chart-data");
    if (!holder || !window.echarts) return;
    var data = JSON.parse(holder.dataset.chart);
    document.querySelectorAll(".chart[data-series]").forEach(function (el) {
      var s = data[el.dataset.series];
      if (!s || !s.names.length) { el.style.display = "none"; return; }
      var chart = echarts.init(el);
      var series;
      if (el.dataset.series === "ppv23") {
        series = [{ name: "PPV23", type: "bar", data: s.rate, label: { show: true, position: "top", formatter: "{c}%" } }];
      } else {
        series = [
          { name: "全人群 actual", type: "bar", data: s.all,
            markLine: { symbol: "none", lineStyle: { type: "dashed" }, label: { formatter: "目标 {c}%" }, data: [{ yAxis: data.target_all }] } },
          { name: "重点人群 actual", type: "bar", data: s.key,
            markLine: { symbol: "none", lineStyle: { type: "dashed", color: "#c23531" }, label: { formatter: "目标 {c}%" }, data: [{ yAxis: data.target_key }] } }
        ];
      }
      chart.setOption({
        tooltip: { trigger: "axis", valueFormatter: function (v) { return v == null ? "—" : v + "%"; } },
        legend: {},
        grid: { left: 50, right: 20, bottom: 90 },
        xAxis: { type: "category", data: s.names, axisLabel: { rotate: 35, interval: 0 } },
        yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        series: series
      });
      el.dataset.ready = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
})();
