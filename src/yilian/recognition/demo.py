"""Demo data of 检验检查结果互认: the default catalogues, the index, and simulated checks.

Two catalogues over the synthetic region's institutions (their 互认 schemes in
yilian.synth.geography): the 示范区 list of seed 001 (青浦 institutions, 苏州九院,
嘉善一院) and the Shanghai-wide scheme of 沪卫医〔2019〕27号 (same default items: the
Shanghai list itself is not in the seeds). Checks are then simulated at hospitals
for people with recent results, so that the dashboard has something to show; they
are marked ``demo-simulation`` and are synthetic, like everything in the demo.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.patients import service as patients
from yilian.recognition import backfill, rules, service
from yilian.recognition import repository as repo
from yilian.recognition.defaults import DEFAULT_CATALOGUE_CODE, DEFAULT_CATALOGUE_NAME
from yilian.recognition.models import Check, IndexedResult
from yilian.recognition.schemas import DecisionIn
from yilian.registry import service as registry

SHANGHAI_CODE = "SH-HR-2019"
SHANGHAI_NAME = "上海市医疗机构间医学影像检查资料和医学检验结果互认目录"
SHANGHAI_SOURCE = (
    "沪卫医〔2019〕27号 (domain primary-care-rules §5); 上海现行项目清单未见于种子资料，"
    "演示沿用默认 35+9 项"
)
DEMO_ZONE_SOURCE = "seed 001: 示范区 35 个检验项目和 9 大类检查项目"
SIMULATED_BY = "demo-simulation"
SIMULATED_CHECKS = 300
HOSPITAL_TYPES = ("tertiary_hospital", "secondary_hospital", "tcm_hospital",
                  "integrated_medicine_hospital", "maternal_child_health")  # fmt: skip


def _scheme_orgs(session: Session, scheme: str) -> list[str]:
    from yilian.synth.geography import ORGS

    codes = [o.code for o in ORGS if scheme in o.recognition]
    ids = []
    for code in codes:
        org = registry.get_organization_by_code(session, code)
        if org is not None:
            ids.append(org.id)
    return ids


def seed_demo(session: Session) -> str:
    """Install the catalogues, fill the index if it is empty, simulate checks (idempotent)."""
    zone = service.install_default(
        session,
        None,
        code=DEFAULT_CATALOGUE_CODE,
        name=DEFAULT_CATALOGUE_NAME,
        source=DEMO_ZONE_SOURCE,
        organization_ids=_scheme_orgs(session, "demo_zone"),
    )
    shanghai = service.install_default(
        session,
        None,
        code=SHANGHAI_CODE,
        name=SHANGHAI_NAME,
        source=SHANGHAI_SOURCE,
        organization_ids=_scheme_orgs(session, "shanghai"),
    )
    indexed = repo.indexed_count(session)
    if indexed == 0 and backfill.stored_results_exist(session):
        indexed = backfill.reindex(session)
    checks = _simulate(session, [zone.id, shanghai.id])
    members = repo.participant_counts(session)
    return (
        f"recognition: 2 catalogues (示范区 {members.get(zone.id, 0)} 家, "
        f"上海 {members.get(shanghai.id, 0)} 家机构), {indexed} results indexed, "
        f"{checks} simulated checks"
    )


def _simulate(session: Session, catalogue_ids: list[str]) -> int:
    done = session.scalar(
        select(func.count()).select_from(Check).where(Check.checked_by == SIMULATED_BY)
    )
    if done:
        return int(done)
    rng = random.Random(20_240_101)
    members: dict[str, set[str]] = {
        c: {p.organization_id for p in repo.participants_of(session, c)} for c in catalogue_ids
    }
    orgs = registry.organizations_by_ids(session, set().union(*members.values()))
    hospitals = {o.id for o in orgs.values() if str(o.type) in HOSPITAL_TYPES}
    rows = list(
        session.execute(
            select(IndexedResult.patient_id, func.max(IndexedResult.effective))
            .group_by(IndexedResult.patient_id)
            .order_by(IndexedResult.patient_id)
            .limit(SIMULATED_CHECKS * 3)
        ).tuples()
    )
    rng.shuffle(rows)
    made = 0
    for patient_id, newest in rows:
        if made >= SIMULATED_CHECKS:
            break
        results = repo.results_for_patient(session, patient_id)
        person = patients.person_of_record(session, patient_id)
        if not results or person is None:
            continue
        source = results[0].source_org_id
        partners = sorted(
            o for ids in members.values() if source in ids for o in ids & hospitals if o != source
        )
        if not partners:
            continue
        items = sorted({r.item_code for r in results})[:6]
        if rng.random() < 0.3:
            items.append(rng.choice(["CEA", "AFP", "TBIL", "MR_HEAD"]))
        out = service.record_check(
            session,
            person_id=person,
            patient_ids=patients.record_ids_of(session, person),
            organization_id=rng.choice(partners),
            checked_by=SIMULATED_BY,
            requested=list(dict.fromkeys(items)),
            now=newest + timedelta(days=rng.randint(1, 40), hours=rng.randint(0, 8)),
        )
        decisions = []
        for item in out.items:
            if item.verdict == rules.REUSE and rng.random() < 0.85:
                decisions.append(DecisionIn(requested=item.requested, decision="reused"))
            elif item.verdict == rules.REUSE:
                reason = rng.choice(rules.RETEST_REASONS)
                decisions.append(
                    DecisionIn(
                        requested=item.requested,
                        decision="reordered",
                        retest_reason=reason,
                        note="病情变化，需复查" if reason == rules.OTHER else None,
                    )
                )
            else:
                decisions.append(DecisionIn(requested=item.requested, decision="reordered"))
        service.record_decisions(session, SIMULATED_BY, out.id, decisions, now=out.checked_at)
        made += 1
    session.flush()
    return made
