// Cluster network of sequenced strains (ECharts graph): nodes coloured by province.
document.addEventListener("DOMContentLoaded", () => {
  const el = document.getElementById("tb-network");
  const raw = document.getElementById("tb-cluster-data");
  if (!el || !raw || typeof echarts === "undefined") return;
  const view = JSON.parse(raw.textContent);
  const provinces = [...new Set(view.clusters.flatMap((c) => c.members.map((m) => m.province)))];
  const nodes = [];
  const links = [];
  for (const c of view.clusters) {
    for (const m of c.members) {
      // Another province's strain shows by province only (its label stays in its tenant).
      nodes.push({ id: m.id, name: m.own ? m.label : `${m.province}·${m.id.slice(0, 4)}`,
        category: provinces.indexOf(m.province), symbolSize: m.own ? 14 : 10,
        value: `${m.province} ${m.city || ""} ${m.drtype}` });
    }
    for (const e of c.edges) {
      links.push({ source: e.source, target: e.target, value: e.distance,
        lineStyle: { width: e.distance <= view.recent_threshold ? 3 : 1 } });
    }
  }
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: {},
    legend: [{ data: provinces }],
    series: [{ type: "graph", layout: "force", roam: true, draggable: true,
      label: { show: true, position: "right" }, edgeLabel: { show: true, formatter: "{c}" },
      force: { repulsion: 120, edgeLength: [40, 120] },
      categories: provinces.map((p) => ({ name: p })), data: nodes, links }],
  });
  window.addEventListener("resize", () => chart.resize());
});
