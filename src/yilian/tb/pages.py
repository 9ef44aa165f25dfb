"""Web pages of the tb domain: a resistance report and the cluster network (zh-CN first)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from yilian.deps import DbSession
from yilian.kit.errors import YilianError
from yilian.security.principal import Role
from yilian.tb import service
from yilian.web.i18n import add_messages
from yilian.web.nav import NavItem, register
from yilian.web.pages import _signed_in, _to_login
from yilian.web.templating import render

router = APIRouter(include_in_schema=False)

register(
    NavItem(
        "nav.tb_samples",
        "/ui/tb/samples",
        frozenset({Role.cdc, Role.specialist, Role.doctor, Role.admin}),
        order=60,
    )
)
register(
    NavItem(
        "nav.tb_clusters",
        "/ui/tb/clusters",
        frozenset({Role.cdc, Role.specialist, Role.admin}),
        order=61,
    )
)

add_messages(
    {
        "nav.tb_samples": {"zh-CN": "结核耐药测序", "en": "TB sequencing"},
        "nav.tb_clusters": {"zh-CN": "传播聚集性", "en": "TB clusters"},
        "tb.report": {"zh-CN": "耐药预测报告", "en": "Drug-resistance report"},
        "tb.drtype": {"zh-CN": "耐药类型", "en": "Resistance type"},
        "tb.catalogue": {"zh-CN": "突变目录版本", "en": "Catalogue version"},
        "tb.drug": {"zh-CN": "药物", "en": "Drug"},
        "tb.result": {"zh-CN": "结果", "en": "Result"},
        "tb.evidence": {
            "zh-CN": "依据（WHO 分级、频率、深度）",
            "en": "Evidence (WHO group, frequency, depth)",
        },
        "tb.result.R": {"zh-CN": "耐药", "en": "Resistant"},
        "tb.result.S": {"zh-CN": "敏感", "en": "Susceptible"},
        "tb.result.uncertain": {"zh-CN": "意义不明", "en": "Uncertain"},
        "tb.result.not_determined": {"zh-CN": "未能判定", "en": "Not determined"},
        "tb.sample": {"zh-CN": "样本", "en": "Sample"},
        "tb.place": {"zh-CN": "地区", "en": "Place"},
        "tb.collected": {"zh-CN": "采样日期", "en": "Collected"},
        "tb.lineage": {"zh-CN": "谱系", "en": "Lineage"},
        "tb.samples": {"zh-CN": "测序菌株", "en": "Sequenced strains"},
        "tb.clusters": {
            "zh-CN": "传播聚集性（SNP 距离）",
            "en": "Transmission clusters (SNP distance)",
        },
        "tb.threshold": {"zh-CN": "阈值（SNP）", "en": "Threshold (SNPs)"},
        "tb.cross_border": {"zh-CN": "跨省", "en": "Cross-border"},
        "tb.recent": {"zh-CN": "近期传播", "en": "Recent transmission"},
        "tb.members": {"zh-CN": "成员", "en": "Members"},
        "tb.none": {"zh-CN": "暂无", "en": "None"},
        "tb.not_determined_ranges": {"zh-CN": "未能判定的位点", "en": "Positions not determined"},
        "tb.other_variants": {"zh-CN": "其他变异", "en": "Other variants"},
        "tb.tenant": {"zh-CN": "数据归属", "en": "Tenant"},
        "tb.not_clusterable": {
            "zh-CN": "无法参与聚集性分析的样本（无全基因组位点）",
            "en": "Not clusterable (no genome-wide calls)",
        },
    }
)

SampleId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


@router.get("/ui/tb/samples", response_class=HTMLResponse, response_model=None)
def samples_page(request: Request, session: DbSession) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        rows = service.list_samples(session, principal, limit=200)
    except YilianError as exc:
        return render(
            request, "error.html", principal, status_code=exc.status_code, message=exc.message
        )
    return render(request, "tb/samples.html", principal, samples=rows)


@router.get("/ui/tb/samples/{sample_id}", response_class=HTMLResponse, response_model=None)
def report_page(request: Request, sample_id: SampleId, session: DbSession) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        sample = service.get_sample(session, principal, sample_id)
    except YilianError as exc:
        return render(
            request, "error.html", principal, status_code=exc.status_code, message=exc.message
        )
    return render(request, "tb/report.html", principal, sample=sample, report=sample.report)


@router.get("/ui/tb/clusters", response_class=HTMLResponse, response_model=None)
def clusters_page(
    request: Request,
    session: DbSession,
    threshold: Annotated[int | None, Query(ge=0, le=1000)] = None,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        view = service.cluster_view(session, principal, threshold)
    except YilianError as exc:
        return render(
            request, "error.html", principal, status_code=exc.status_code, message=exc.message
        )
    return render(request, "tb/clusters.html", principal, view=view)
