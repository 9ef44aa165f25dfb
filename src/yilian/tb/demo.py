"""Demo data of TB drug resistance: strains of 安徽/江苏/浙江/上海 and a cross-border cluster.

The product ships no WHO data, so the demo reports resistance only when a catalogue
has been imported (``yilian tb catalogue import <dir>``) or when
``YILIAN_TB_CATALOGUE_DIR`` names the directory of the WHO files, which it then
imports. Otherwise it says so in one line and seeds nothing; ``yilian tb demo`` seeds
the strains later, once the catalogue is in.

The strains are synthetic: a lineage backbone of SNPs outside the catalogue genes and
the mask (reference base unknown offline, so REF is ``N``), private SNPs per strain,
and the resistance variants the tests cite (rpoB p.Ser450Leu, katG p.Ser315Thr, inhA
c.-777C>T, gyrA p.Asp94Gly, embB p.Met306Val). One transmission chain runs from 安徽
through 上海 to 江苏 (≤ 5 SNPs: recent), a pair in 浙江 sits 8 SNPs apart, and one
浙江 sample comes as variant names only, so the cluster view lists it as not clusterable.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.db import utcnow
from yilian.kit.errors import YilianError
from yilian.patients import service as patients
from yilian.registry import service as registry
from yilian.security.principal import Principal, Role
from yilian.tb import clusters, service
from yilian.tb import repository as repo
from yilian.tb.care_models import TbCase
from yilian.tb.catalogue import REFERENCE_LENGTH, Catalogue
from yilian.tb.config import get_tb_settings
from yilian.tb.models import TbClusterAlert, TbSample
from yilian.tb.schemas import SampleCreate

log = logging.getLogger(__name__)

PREFIX = "DEMO-WGS-"
HOW_TO = (
    "tb resistance: skipped — no WHO catalogue imported; run `yilian tb catalogue import "
    "<directory of the WHO 2023 catalogue files>` (or set YILIAN_TB_CATALOGUE_DIR), "
    "then `yilian tb demo`"
)
# The regional WGS platform (seed 000 opened it to the provinces) and each province's lab.
REGIONAL_LAB = "310000H004"
LABS = {"310000": "310000H004", "320000": "320509H001", "330000": "330421H001"}
RIF = (761155, "C", "T")  # rpoB p.Ser450Leu
INH = (2155168, "C", "G")  # katG p.Ser315Thr
INHA = (1673425, "C", "T")  # inhA c.-777C>T (fabG1 c.-15C>T)
FQ = (7582, "A", "G")  # gyrA p.Asp94Gly
EMB = (4247429, "A", "G")  # embB p.Met306Val


@dataclass(frozen=True)
class DemoStrain:
    label: str
    province: str  # 行政区划代码
    city: str | None
    lineage: str
    clone: str  # strains of one clone share a founder
    private: int  # SNPs of their own
    resistance: tuple[tuple[int, str, str], ...]
    days_ago: int
    names: tuple[str, ...] = ()  # submitted as variant names instead of a VCF


STRAINS = (
    # 安徽 → 上海 → 江苏: one chain of recent transmission across three provinces.
    DemoStrain("AH-001", "340000", "合肥市", "2.2.1", "chain", 1, (RIF, INH), 120),
    DemoStrain("SH-001", "310000", None, "2.2.1", "chain", 1, (RIF, INH), 80),
    DemoStrain("SH-002", "310000", None, "2.2.1", "chain", 2, (RIF, INH), 60),
    DemoStrain("JS-001", "320000", "苏州市", "2.2.1", "chain", 2, (RIF, INH), 30),
    # 浙江: a pair 8 SNPs apart — a cluster, not recent transmission.
    DemoStrain("ZJ-001", "330000", "嘉兴市", "4.2", "pair", 4, (), 200),
    # (ZJ-002's acquired katG mutation is the eighth SNP between them.)
    DemoStrain("ZJ-002", "330000", "嘉兴市", "4.2", "pair", 3, (INH,), 40),
    # Unrelated strains.
    DemoStrain("AH-002", "340000", "阜阳市", "2.2.1", "ah2", 70, (RIF, INH, FQ), 90),
    DemoStrain("SH-003", "310000", None, "4.4", "sh3", 70, (), 50),
    DemoStrain("JS-002", "320000", "苏州市", "4.5", "js2", 70, (INHA, EMB), 70),
    DemoStrain(
        "ZJ-003",
        "330000",
        "嘉兴市",
        "",
        "names",
        0,
        (),
        20,
        names=("rpoB_p.Ser450Leu", "katG_p.Ser315Thr"),
    ),
)


def _free_positions(cat: Catalogue, rng: random.Random, n: int, taken: set[int]) -> list[int]:
    """Positions outside the catalogue genes (± 2 kb) and the SNP-distance mask."""
    near = clusters.Mask([(g.start - 2000, g.end + 2000) for g in cat.genes])
    masked = service.mask_of(cat)
    out: list[int] = []
    while len(out) < n:
        p = rng.randint(1, REFERENCE_LENGTH)
        if p in taken or p in near or p in masked:
            continue
        taken.add(p)
        out.append(p)
    return out


def _vcf(snps: dict[int, str], resistance: tuple[tuple[int, str, str], ...], name: str) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=NC_000962.3,length=4411532>",
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{name}",
    ]
    records = [(p, "N", a) for p, a in snps.items()] + list(resistance)
    for pos, ref, alt in sorted(records):
        lines.append(f"NC_000962.3\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.\tGT:AD:DP\t1:0,45:45")
    return "\n".join(lines) + "\n"


def _genomes(cat: Catalogue) -> dict[str, dict[int, str]]:
    """Each strain's SNPs: its lineage backbone, its clone's founder, its own."""
    rng = random.Random(8000)
    taken: set[int] = set()
    backbones = {
        lineage: dict.fromkeys(_free_positions(cat, rng, 600, taken), "A")
        for lineage in sorted({s.lineage for s in STRAINS})
    }
    founders = {
        clone: dict.fromkeys(_free_positions(cat, rng, 40, taken), "G")
        for clone in sorted({s.clone for s in STRAINS})
    }
    out = {}
    for s in STRAINS:
        own = dict.fromkeys(_free_positions(cat, rng, s.private, taken), "T")
        out[s.label] = {**backbones[s.lineage], **founders[s.clone], **own}
    return out


def _catalogue(session: Session) -> str | None:
    """The active catalogue's version, importing it from YILIAN_TB_CATALOGUE_DIR if need be."""
    row = repo.active_catalogue(session)
    if row is not None:
        return row.version
    directory = get_tb_settings().catalogue_dir
    if directory is None:
        return None
    row, _ = service.import_catalogue(session, [directory])
    return row.version


def _persons(session: Session, rr: bool, n: int) -> list[str]:
    """Persons of the demo's 上海 TB cases whose RR status matches, to link strains to
    (only those with a Patient record, where the report is filed)."""
    stmt = (
        select(TbCase.person_id)
        .where(TbCase.province == "上海市", TbCase.rr_tb.is_(rr))
        .order_by(TbCase.notification_date, TbCase.id)
        .limit(20)
    )
    found = [p for p in session.scalars(stmt) if patients.record_ids_of(session, p)]
    return found[:n]


def seed_demo(session: Session) -> str:
    """Idempotent: seeds the strains once, only with an imported WHO catalogue."""
    if session.scalar(
        select(func.count()).select_from(TbSample).where(TbSample.label.startswith(PREFIX))
    ):
        return "tb resistance: demo strains already present"
    try:
        version = _catalogue(session)
    except YilianError as exc:
        line = f"tb resistance: skipped — the WHO catalogue could not be imported: {exc.message}"
        log.warning(line)
        return line
    if version is None:
        log.warning(HOW_TO)
        return HOW_TO
    labs = {p: registry.get_organization_by_code(session, c) for p, c in LABS.items()}
    regional = registry.get_organization_by_code(session, REGIONAL_LAB)
    if regional is None:
        return f"tb resistance: skipped — no institution {REGIONAL_LAB} in the registry"
    cat = service.load_catalogue(session, service.active_catalogue(session))
    genomes = _genomes(cat)
    # The regional platform files for the provinces: a region-wide account.
    platform = Principal(
        subject="demo-tb-wgs", name="长三角结核病测序平台", role=Role.admin, organization_id=None
    )
    linked = {True: _persons(session, True, 1), False: _persons(session, False, 1)}
    today = utcnow().date()
    made = 0
    for s in STRAINS:
        lab = labs.get(s.province) or regional
        rr = RIF in s.resistance
        person = linked[rr].pop() if s.province == "310000" and linked[rr] else None
        label = f"{PREFIX}{s.label}"
        data = SampleCreate(
            label=label,
            organization_id=lab.id,
            province=s.province,
            city=s.city,
            collection_date=today - timedelta(days=s.days_ago),
            lineage=s.lineage or None,
            person_id=person,
            vcf=None if s.names else _vcf(genomes[s.label], s.resistance, label),
            variants=list(s.names) if s.names else None,
        )
        service.create_sample(session, platform, data)
        made += 1
    session.flush()
    view = service.cluster_view(session, platform)
    cross = sum(1 for c in view["clusters"] if c["cross_border"])
    alerts = session.scalar(select(func.count()).select_from(TbClusterAlert)) or 0
    return (
        f"tb resistance: {made} strains of 4 provinces (catalogue {version}), "
        f"{len(view['clusters'])} clusters ({cross} cross-border), {alerts} CDC alerts, "
        f"{len(view['not_clusterable'])} not clusterable"
    )
