"""Staff web UI: server-rendered pages (Jinja2 + htmx + ECharts), zh-CN first."""
