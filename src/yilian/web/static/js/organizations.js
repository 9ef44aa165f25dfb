// Organisation browser: an ECharts tree of regions sized by organisation count;
// clicking a region in the side list keeps the filter form in step.
(function () {
  document.querySelectorAll(".region-tree a[data-region]").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      document.getElementById("region-filter").value = a.dataset.region;
      document.querySelectorAll(".region-tree a.active").forEach(function (x) { x.classList.remove("active"); });
      a.classList.add("active");
    });
  });
  var el = document.getElementById("region-chart");
  if (!el || !window.echarts) return;
  var data = JSON.parse(el.dataset.tree);
  var chart = echarts.init(el);
  chart.setOption({
    tooltip: { formatter: function (p) { return p.name + "：" + (p.value || 0); } },
    series: [{
      type: "treemap",
      data: data,
      leafDepth: 2,
      roam: false,
      label: { show: true, formatter: "{b}\n{c}" },
      upperLabel: { show: true, height: 22 },
      breadcrumb: { show: true }
    }]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
