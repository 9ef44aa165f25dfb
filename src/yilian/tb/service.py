"""TB genomic drug resistance and the sequenced-strain database (结核分枝杆菌全基因组测序数据库).

Seed 000: the 长三角 region builds a WGS database and analysis platform on the WHO
catalogue, opened to 上海/浙江/江苏 (~800 strains tested). Services take a Session
and never commit; prediction itself is the pure :func:`yilian.tb.predict.predict`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.db import utcnow
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable, YilianError
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry import service as registry
from yilian.registry.models import Organization, Region
from yilian.registry.rules import OrganizationType, RegionLevel
from yilian.registry.schemas import OrganizationFilter
from yilian.security import access
from yilian.security.principal import Principal, Role
from yilian.security.rules import Tenant
from yilian.tb import clusters, mask, predict, tenancy, vcf
from yilian.tb import repository as repo
from yilian.tb.catalogue import (
    Catalogue,
    CatalogueError,
    CatalogueFiles,
    Coordinate,
    Gene,
    Grade,
    read_files,
)
from yilian.tb.config import TbSettings, get_tb_settings
from yilian.tb.models import (
    TbCatalogue,
    TbCatalogueChunk,
    TbClusterAlert,
    TbSample,
    TbSnpLink,
)
from yilian.tb.schemas import SampleCreate

# Within their province's tenant (the region's, for coordination centres and admins).
READ_ALL_ROLES = frozenset({Role.cdc, Role.specialist, Role.admin})
WRITE_ROLES = frozenset({Role.cdc, Role.specialist, Role.doctor, Role.admin})
CLUSTER_ROLES = frozenset({Role.cdc, Role.specialist, Role.admin})
# Why a sample takes no part in SNP distances (``TbSample.cluster_exclusion``).
NAMES_ONLY = "variant_names"
NO_FIXED_SNPS = "no_fixed_snps"
EXCLUSION_LABELS = {
    NAMES_ONLY: "无全基因组位点（仅提交变异名称），无法计算 SNP 距离",
    NO_FIXED_SNPS: "VCF 中无可用的固定 SNP，无法计算 SNP 距离",
}
SAMPLE_SYSTEM = "urn:yilian:tb:sample"
CATALOGUE_EXTENSION = "urn:yilian:tb:catalogue-version"
CHUNK = 2000

# --- catalogue ----------------------------------------------------------------

_cache: dict[str, Catalogue] = {}
_cache_lock = threading.Lock()


def import_catalogue(
    session: Session, paths: Sequence[Path], settings: TbSettings | None = None
) -> tuple[TbCatalogue, bool]:
    """Import the WHO catalogue files (bulk insert); (row, created). Refuses other versions."""
    settings = settings or get_tb_settings()
    try:
        files = read_files(list(paths), settings.accepted_catalogues)
    except CatalogueError as exc:
        raise Unprocessable(str(exc), field="catalogue") from exc
    return store_catalogue(session, files)


def store_catalogue(session: Session, files: CatalogueFiles) -> tuple[TbCatalogue, bool]:
    existing = repo.catalogue_by_version(session, files.version, files.coordinates_label)
    if existing is not None:
        return existing, False
    repo.deactivate_catalogues(session)
    row = TbCatalogue(
        version=files.version,
        label=files.coordinates_label,
        active=True,
        genes=[[g.name, g.start, g.end, g.strand] for g in files.genes],
        promoters=[list(p) for p in files.promoters],
        sources=files.sources,
        counts={
            "coordinates": len(files.coordinates),
            "grades": len(files.grades),
            "genes": len(files.genes),
        },
    )
    session.add(row)
    session.flush()
    coords = [[c.pos, c.ref, c.alt, "&".join(c.names)] for c in files.coordinates]
    grades = [
        [g.gene, g.mutation, g.drug, g.group, g.confidence, g.original, g.comment]
        for g in files.grades
    ]
    chunks = []
    for kind, rows in (("coordinates", coords), ("grades", grades)):
        for seq, i in enumerate(range(0, len(rows), CHUNK)):
            chunks.append(
                {"catalogue_id": row.id, "kind": kind, "seq": seq, "rows": rows[i : i + CHUNK]}
            )
    repo.bulk_insert(session, TbCatalogueChunk, chunks)
    with _cache_lock:
        _cache[row.id] = Catalogue.from_files(files)
        _cache[row.id].id = row.id
    return row, True


def active_catalogue(session: Session) -> TbCatalogue:
    row = repo.active_catalogue(session)
    if row is None:
        raise Unprocessable(
            "no WHO catalogue imported: run `yilian tb catalogue import <dir>` first",
            field="catalogue",
        )
    return row


def load_catalogue(session: Session, row: TbCatalogue) -> Catalogue:
    """The catalogue indexed in memory; built once per process (an import never changes)."""
    cached = _cache.get(row.id)
    if cached is not None:
        return cached
    cat = Catalogue(
        version=row.version,
        label=row.label,
        catalogue_id=row.id,
        coordinates=(
            Coordinate(pos, ref, alt, tuple(names.split("&")))
            for pos, ref, alt, names in repo.chunk_rows(session, row.id, "coordinates")
        ),
        grades=(Grade(*r) for r in repo.chunk_rows(session, row.id, "grades")),
        genes=[Gene(n, s, e, st) for n, s, e, st in row.genes],
        promoters=[(g, s, e) for g, s, e in row.promoters],
    )
    with _cache_lock:
        _cache[row.id] = cat
    return cat


def options(settings: TbSettings | None = None) -> predict.Options:
    s = settings or get_tb_settings()
    return predict.Options(min_depth=s.min_depth, min_af=s.min_af, fixed_af=s.fixed_af)


def predict_text(
    cat: Catalogue, text: str, *, sample_id: str | None = None
) -> tuple[dict[str, Any], vcf.SampleCalls]:
    """Parse a VCF and report it; VcfError on bad input."""
    s = get_tb_settings()
    calls = vcf.parse(text, reference=cat.reference, min_depth=s.min_depth, min_af=s.min_af)
    if calls.records == 0:
        raise vcf.VcfError(
            "the VCF has no variant records: an empty call set cannot be reported as sensitive"
        )
    report = predict.predict(
        cat, calls=calls, options=options(s), sample_id=sample_id or calls.sample_name
    )
    return report, calls


def mask_of(cat: Catalogue, settings: TbSettings | None = None) -> clusters.Mask:
    """The SNP-distance mask: repetitive families in the catalogue's gene table and the
    configured annotation, plus configured ranges (``yilian.tb.mask``)."""
    s = settings or get_tb_settings()
    try:
        patterns = mask.compile_patterns(s.mask_gene_patterns)
        features = [mask.Feature(g.start, g.end, (g.name,)) for g in cat.genes]
        if s.mask_file is not None:
            features += mask.mask_file_features(s.mask_file)
        extra = clusters.parse_ranges(s.mask_ranges)
    except ValueError as exc:
        raise YilianError(
            f"the SNP-distance mask is misconfigured (YILIAN_TB_MASK_*): {exc}", status_code=500
        ) from exc
    return clusters.Mask([*mask.family_ranges(features, patterns), *extra])


def fixed_snps(calls: vcf.SampleCalls, fixed_af: float) -> list[list[Any]]:
    """Fixed SNPs (MNPs split) as sorted [pos, alt]: the strain's genotype for distances."""
    out: dict[int, str] = {}
    for c in calls.calls:
        if c.failed or c.end is not None or len(c.ref) != len(c.alt):
            continue
        if c.freq is not None and c.freq < fixed_af:
            continue
        for i, (r, a) in enumerate(zip(c.ref, c.alt, strict=True)):
            if r != a:
                out[c.pos + i] = a
    return [[p, out[p]] for p in sorted(out)]


# --- samples ------------------------------------------------------------------


@dataclass
class Place:
    organization: Organization
    province: Region | None
    province_name: str
    city: str | None


def _place(session: Session, principal: Principal, data: SampleCreate) -> Place:
    org_id = data.organization_id or principal.organization_id
    if org_id is None:
        raise Unprocessable(
            "organization_id is required (the sequencing institution)", field="organization_id"
        )
    if principal.role is Role.doctor and org_id != principal.organization_id:
        raise Forbidden("a doctor files samples for their own organization only")
    try:
        org = registry.get_organization(session, org_id)
    except NotFound as exc:
        raise Unprocessable(exc.message, field="organization_id") from exc
    chain = registry.region_ancestry(session, org.region_id) if org.region_id else []
    province = next((r for r in chain if r.level == RegionLevel.province), None)
    city = next((r.name for r in chain if r.level == RegionLevel.city), None)
    if data.province:
        wanted = data.province.strip()
        found = registry.get_region_by_code(session, wanted)
        if found is None:
            listing = registry.list_regions(
                session, level=RegionLevel.province, name=wanted, limit=2
            )
            found = listing.items[0] if len(listing.items) == 1 else None
        if found is None or found.level != RegionLevel.province:
            raise Unprocessable(
                f"province {wanted!r} is not a province in the registry", field="province"
            )
        province = found
    if province is None:
        raise Unprocessable(
            "the sample's province is unknown: give province or an institution with a region",
            field="province",
        )
    # A sample is filed in its province's tenant; the region's centre files for any.
    access.require_within_tenant(
        session,
        principal,
        resource_tenant=Tenant(province.id, province.name),
        action="create",
        purpose=tenancy.purpose_of(principal),
        resource_type="TbSample",
    )
    return Place(org, province, province.name, data.city or city)


def create_sample(
    session: Session, principal: Principal, data: SampleCreate, vcf_text: str | None = None
) -> TbSample:
    """Store a sequenced strain, report its resistance, link it to close strains; alert CDCs."""
    if principal.role not in WRITE_ROLES:
        raise Forbidden("filing a sequenced sample needs the role cdc, specialist, doctor or admin")
    settings = get_tb_settings()
    text = vcf_text if vcf_text is not None else data.vcf
    place = _place(session, principal, data)
    if repo.sample_by_label(session, place.organization.id, data.label) is not None:
        raise Conflict(f"sample {data.label!r} is already filed by this organization")
    person_id = None
    if data.person_id:
        try:
            person_id = patients.current_person_id(session, data.person_id)
        except NotFound as exc:
            raise Unprocessable(exc.message, field="person_id") from exc
    row = active_catalogue(session)
    cat = load_catalogue(session, row)
    snps: list[list[Any]] = []
    missing: list[list[int]] = [list(r) for r in data.missing_ranges]
    try:
        if text is not None:
            if len(text.encode()) > settings.max_vcf_bytes:
                raise vcf.VcfError(f"the VCF is larger than {settings.max_vcf_bytes} bytes")
            calls = vcf.parse(
                text, reference=cat.reference, min_depth=settings.min_depth, min_af=settings.min_af
            )
            if calls.records == 0:
                raise vcf.VcfError(
                    "the VCF has no variant records: an empty call set is not a result"
                )
            report = predict.predict(
                cat,
                calls=calls,
                missing=data.missing_ranges,
                options=options(settings),
                sample_id=data.label,
            )
            snps = fixed_snps(calls, settings.fixed_af)
            missing += [list(r) for r in calls.missing]
            missing += [[c.pos, c.span_end] for c in calls.calls if c.failed]
        else:
            variants = predict.variants_from_names(cat, data.variants or [])
            report = predict.predict(
                cat,
                variants=variants,
                missing=data.missing_ranges,
                options=options(settings),
                sample_id=data.label,
            )
    except vcf.VcfError as exc:
        raise Unprocessable(str(exc), field="vcf") from exc
    except predict.VariantNameError as exc:
        raise Unprocessable(str(exc), field="variants") from exc
    exclusion = None if snps else (NAMES_ONLY if text is None else NO_FIXED_SNPS)
    report["sample"] = {
        "label": data.label,
        "province": place.province_name,
        "city": place.city,
        "organization": place.organization.name,
        "collection_date": data.collection_date.isoformat() if data.collection_date else None,
        "lineage": data.lineage,
    }
    sample = TbSample(
        label=data.label,
        organization_id=place.organization.id,
        province_region_id=place.province.id if place.province else None,
        province=place.province_name,
        city=place.city,
        collection_date=data.collection_date,
        lineage=data.lineage,
        person_id=person_id,
        catalogue_id=row.id,
        catalogue_version=row.version,
        drtype=report["drtype"],
        report=report,
        snps=snps,
        missing=missing,
        cluster_exclusion=exclusion,
        created_by=principal.subject,
    )
    session.add(sample)
    session.flush()
    report["id"] = sample.id
    if person_id:
        sample.diagnostic_report_id = _file_report(session, sample, place.organization)
    audit.record(
        session,
        principal,
        action="create",
        resource_type="TbSample",
        resource_id=sample.id,
        person_id=person_id,
        outcome="success",
        detail={"drtype": sample.drtype, "catalogue": row.version},
    )
    if snps:
        link_sample(session, sample, cat, settings)
        raise_cluster_alerts(session, sample, settings)
    return sample


def diagnostic_report(sample: TbSample, patient_id: str, organization_name: str) -> dict[str, Any]:
    """The FHIR DiagnosticReport of a resistance prediction, with the catalogue version."""
    drugs = sample.report.get("drugs", [])
    lines = [f"{d['name_zh']}({d['abbreviation']}) {d['result']}" for d in drugs]
    conclusion = (
        f"{sample.drtype}；"
        + "，".join(lines)
        + f"。依据 WHO 耐药突变目录 {sample.catalogue_version}"
    )
    return {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": SAMPLE_SYSTEM, "value": sample.id}],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "GE",
                        "display": "Genetics",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": "urn:yilian:tb:test",
                    "code": "mtb-wgs-dr",
                    "display": "结核分枝杆菌全基因组测序耐药预测",
                }
            ],
            "text": "结核分枝杆菌全基因组测序耐药预测",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": sample.collection_date.isoformat() if sample.collection_date else None,
        "issued": utcnow().isoformat(),
        "performer": [{"display": organization_name}],
        "conclusion": conclusion,
        "conclusionCode": [{"coding": [{"system": "urn:yilian:tb:drtype", "code": sample.drtype}]}],
        "extension": [{"url": CATALOGUE_EXTENSION, "valueString": sample.catalogue_version}],
    }


def _file_report(session: Session, sample: TbSample, org: Organization) -> str:
    record_ids = patients.record_ids_of(session, sample.person_id or "")
    if not record_ids:
        raise Unprocessable(
            "the person has no Patient record to file the report in", field="person_id"
        )
    sources = records.sources_of(
        session, [{"resourceType": "Patient", "id": p} for p in record_ids]
    )
    own = [p for p in record_ids if sources.get(f"Patient/{p}") == org.id]
    patient_id = (own or record_ids)[0]
    writer = Principal(
        subject=f"tb-wgs:{org.id}", name=f"{org.name} 结核测序", role=Role.system,
        organization_id=org.id, kind="client",
    )  # fmt: skip
    resource = {
        k: v for k, v in diagnostic_report(sample, patient_id, org.name).items() if v is not None
    }
    return records.create(session, writer, "DiagnosticReport", resource).id


def _reader_problem(principal: Principal, sample: TbSample) -> str | None:
    if principal.role in READ_ALL_ROLES:
        return None
    if principal.role is Role.doctor and sample.organization_id == principal.organization_id:
        return None
    return "this sample belongs to another organization"


def get_sample(session: Session, principal: Principal, sample_id: str) -> TbSample:
    """A sample of the caller's tenant (doctors: their organisation's); person access audited."""
    sample = session.get(TbSample, sample_id)
    if sample is None:
        raise NotFound(f"sample {sample_id} does not exist")
    tenancy.authorize(
        session,
        principal,
        owner_province_id=sample.province_region_id,
        owner_province=sample.province,
        action="read",
        resource_type="TbSample",
        resource_id=sample.id,
        person_id=sample.person_id,
        role_problem=_reader_problem(principal, sample),
    )
    return sample


def list_samples(
    session: Session, principal: Principal, *, limit: int = 50, offset: int = 0
) -> list[TbSample]:
    """The tenant's samples (a doctor: their organisation's), newest first; audited."""
    if principal.role not in READ_ALL_ROLES and principal.role is not Role.doctor:
        raise Forbidden("listing sequenced samples needs the role cdc, specialist, doctor or admin")
    tenant = access.require_tenant(session, principal)
    rows = repo.list_samples(
        session,
        organization_id=principal.organization_id if principal.role is Role.doctor else None,
        province_region_id=None if tenant.region_wide else tenant.province_region_id,
        limit=limit,
        offset=offset,
    )
    audit.record(
        session,
        principal,
        action="tb_sample_list",
        resource_type="TbSample",
        outcome="success",
        detail={"count": len(rows), "tenant": tenant.province},
    )
    return rows


# --- clusters -----------------------------------------------------------------


def _strain(
    sample_id: str, snps: list[Any], missing: list[Any], masked: clusters.Mask
) -> clusters.Strain:
    return clusters.Strain(
        sample_id,
        {int(p): str(a) for p, a in snps if int(p) not in masked},
        [(int(s), int(e)) for s, e in missing],
    )


def link_sample(session: Session, sample: TbSample, cat: Catalogue, settings: TbSettings) -> int:
    """Store the SNP links of a new sample to every strain within the cluster threshold."""
    mask_ = mask_of(cat, settings)
    new = _strain(sample.id, sample.snps, sample.missing, mask_)
    others = (
        _strain(i, s, m, mask_) for i, s, m in repo.strain_rows(session) if i != sample.id and s
    )
    threshold = max(settings.cluster_snps, settings.recent_snps)
    found = clusters.links(new, others, mask_, threshold)
    repo.bulk_insert(
        session,
        TbSnpLink,
        [
            {"sample_a": min(sample.id, o), "sample_b": max(sample.id, o), "distance": d}
            for o, d in found
        ],
    )
    return len(found)


def _cdcs_of(session: Session, province_id: str) -> list[Organization]:
    listing = registry.list_organizations(
        session,
        filters=OrganizationFilter(region_id=province_id, type=OrganizationType.cdc),
        limit=500,
    )
    return list(listing.items)


def raise_cluster_alerts(
    session: Session, sample: TbSample, settings: TbSettings
) -> list[TbClusterAlert]:
    """Alert every province's CDCs when the sample's cluster crosses provincial borders."""
    threshold = settings.cluster_snps
    edges = repo.links(session, threshold)
    ids = {a for a, _, _ in edges} | {b for _, b, _ in edges} | {sample.id}
    cluster = next((c for c in clusters.components(ids, edges, threshold) if sample.id in c), None)
    if cluster is None:
        return []
    members = sorted(repo.samples_by_ids(session, cluster), key=lambda s: (s.created_at, s.id))
    provinces = {m.province_region_id: m.province for m in members if m.province_region_id}
    if len(provinces) < 2:
        return []
    key = members[0].id
    out: list[TbClusterAlert] = []
    for province_id, name in sorted(provinces.items(), key=lambda p: p[1]):
        targets: list[str | None] = [o.id for o in _cdcs_of(session, province_id)] or [None]
        for org_id in targets:
            if repo.alert_exists(session, key, province_id, org_id):
                continue
            alert = TbClusterAlert(
                cluster_key=key,
                province_region_id=province_id,
                province=name,
                organization_id=org_id,
                threshold=threshold,
                members=[m.id for m in members],
                provinces=sorted(provinces.values()),
            )
            session.add(alert)
            out.append(alert)
    session.flush()
    return out


def _member(s: TbSample, own: bool) -> dict[str, Any]:
    """A cluster member; another province's strain shows where and when, never its label."""
    return {
        "id": s.id,
        "own": own,
        "label": s.label if own else None,
        "province": s.province,
        "city": s.city,
        "drtype": s.drtype,
        "lineage": s.lineage,
        "collection_date": s.collection_date.isoformat() if s.collection_date else None,
    }


def cluster_view(
    session: Session, principal: Principal, threshold: int | None = None
) -> dict[str, Any]:
    """Clusters at the threshold touching the caller's tenant, for the network view.

    A province sees the clusters with at least one of its strains; the other provinces'
    members of a cross-border cluster appear by province, city, date and resistance type
    only. Samples that cannot be placed (no genome-wide calls) are listed apart, never
    dropped silently. No personal data.
    """
    if principal.role not in CLUSTER_ROLES:
        raise Forbidden("the cluster view needs the role cdc, specialist or admin")
    tenant = access.require_tenant(session, principal)
    settings = get_tb_settings()
    widest = max(settings.cluster_snps, settings.recent_snps)
    threshold = settings.cluster_snps if threshold is None else threshold
    if not 0 <= threshold <= widest:
        raise Unprocessable(f"threshold must be between 0 and {widest} SNPs", field="threshold")
    edges = repo.links(session, threshold)
    ids = {a for a, _, _ in edges} | {b for _, b, _ in edges}
    groups = clusters.components(ids, edges, threshold)
    samples = {s.id: s for s in repo.samples_by_ids(session, ids)}
    out = []
    for members in groups:
        rows = sorted(
            (samples[m] for m in members if m in samples), key=lambda s: (s.created_at, s.id)
        )
        if not any(tenant.covers(s.province_region_id) for s in rows):
            continue
        provinces = sorted({s.province for s in rows})
        member_set = set(members)
        inner = [e for e in edges if e[0] in member_set]
        out.append(
            {
                "key": rows[0].id if rows else members[0],
                "size": len(members),
                "provinces": provinces,
                "cross_border": len(provinces) > 1,
                "recent": any(d <= settings.recent_snps for _, _, d in inner),
                "drtypes": sorted({s.drtype for s in rows}),
                "members": [_member(s, tenant.covers(s.province_region_id)) for s in rows],
                "edges": [{"source": a, "target": b, "distance": d} for a, b, d in inner],
            }
        )
    excluded = repo.excluded_samples(
        session, province_region_id=None if tenant.region_wide else tenant.province_region_id
    )
    return {
        "threshold": threshold,
        "recent_threshold": settings.recent_snps,
        "tenant": tenant.province,
        "clusters": out,
        "not_clusterable": [
            {
                **_member(s, True),
                "reason": s.cluster_exclusion,
                "reason_zh": EXCLUSION_LABELS.get(s.cluster_exclusion or "", ""),
            }
            for s in excluded
        ],
    }


def list_alerts(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[TbClusterAlert]:
    """Cross-border cluster alerts: a CDC sees its own, an administrator or gateway all."""
    if principal.role in (Role.admin, Role.system) and principal.organization_id is None:
        org: str | None = None
    elif principal.role in (Role.cdc, Role.system, Role.admin):
        org = principal.organization_id
    else:
        raise Forbidden("cluster alerts are for CDCs, their gateways and administrators")
    return repo.alerts(session, organization_id=org, status=status, limit=limit, offset=offset)


def acknowledge_alert(session: Session, principal: Principal, alert_id: str) -> TbClusterAlert:
    alert = session.get(TbClusterAlert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    if principal.role is not Role.admin and alert.organization_id != principal.organization_id:
        raise Forbidden("this alert is addressed to another organization")
    alert.status = "acknowledged"
    session.flush()
    return alert
