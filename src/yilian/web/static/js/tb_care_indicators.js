// TB care indicators: adherence, visit completion, RR-TB share by month and by province.
(function () {
  const data = JSON.parse(document.getElementById('tb-care-data').textContent);
  const pct = (v) => (v == null ? null : Math.round(v * 1000) / 10);
  function draw(by, title) {
    const el = document.querySelector(`[data-testid=tb-care-chart-${by}]`);
    if (!el || !window.echarts) return;
    const rows = data[by].rows;
    const chart = echarts.init(el);
    chart.setOption({
      title: { text: title },
      tooltip: { trigger: 'axis' },
      legend: { top: 24 },
      grid: { top: 64 },
      xAxis: { type: 'category', data: rows.map((r) => r.key) },
      yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
      series: [
        { name: '服药率', type: 'bar', data: rows.map((r) => pct(r.adherence)) },
        { name: '随访完成率', type: 'bar', data: rows.map((r) => pct(r.visit_completion)) },
        { name: 'RR-TB 占比', type: 'line', data: rows.map((r) => pct(r.rr_share)) },
      ],
    });
  }
  draw('month', '按月');
  draw('province', '按省');
})();
