"""The demo: a synthetic district generated, loaded and served — the README's first command.

A flow across domains (dispatch's ``flows.py`` habit): synth generates the region,
the registry loads its institutions, security gets one account per role, and every
generated bundle goes through the FHIR exchange (``records.intake``, bulk) as the
institution's own system would send it, each bundle all or nothing.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from yilian.db import session_scope
from yilian.models import load_all
from yilian.records import intake
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security import repository as security_repo
from yilian.security import service as security
from yilian.security.principal import Principal, Role, institution_system
from yilian.synth.demo import DEMO_RESIDENTS, DEMO_SEED, generate_demo, iter_demo_bundles
from yilian.synth.generate import Progress
from yilian.synth.load import read_registry

log = logging.getLogger(__name__)

DEMO_PASSWORD = "yilian-demo"
# A month of history: enough for trends and worklists, ingested in about three minutes.
DEMO_DAYS = 30

# username, role, organisation code (None: platform-wide), display name
DEMO_ACCOUNTS: list[tuple[str, Role, str | None, str]] = [
    ("admin", Role.admin, None, "平台管理员"),
    ("commission", Role.commission, None, "长宁区卫健委"),
    ("doctor", Role.doctor, "310105C001", "新华街道社区卫生服务中心 家庭医生"),
    ("specialist", Role.specialist, "310105H001", "同仁医院 专家"),
    ("cdc", Role.cdc, "310105P001", "长宁区疾控中心"),
    ("insurer", Role.insurer, "310000Y001", "上海市医疗保障局"),
]


# Each service domain adds its demo data once the exchange has filled the record:
# module → its ``seed_demo(session) -> str``. Order matters: contracts before the
# chronic registries read them, the recognition catalogue before its statistics.
DOMAIN_SEEDERS = [
    "yilian.recognition.demo",
    "yilian.familydoctor.demo",
    "yilian.chronic.demo",
    "yilian.referral.demo",
    "yilian.consult.demo",
    "yilian.surveillance.demo",
    "yilian.tb.care_demo",
    "yilian.tb.demo",
]


@dataclass
class DemoResult:
    generated: bool
    organizations: int
    resources: int = 0
    bundles: int = 0
    ingested: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    bundle_dir: Path | None = None
    domains: list[str] = field(default_factory=list)  # one line per domain seeder


def _organization_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Organization)) or 0


def _accounts(session: Session, organization_ids: dict[str, str]) -> list[str]:
    created = []
    for username, role, org_code, display in DEMO_ACCOUNTS:
        if security_repo.user_by_username(session, username) is not None:
            continue
        security.create_user(
            session,
            None,
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            organization_id=organization_ids[org_code] if org_code else None,
            display_name=display,
        )
        created.append(username)
    return created


def _institution_system(code: str, organization_id: str) -> Principal:
    """The principal an institution's HIS uses when it pushes its bundles."""
    return institution_system(code, organization_id, via="demo")


def ingest(
    factory: sessionmaker[Session],
    out_dir: Path,
    organization_ids: dict[str, str],
    total: int,
    result: DemoResult,
    progress: Progress | None = None,
) -> None:
    """Send every generated bundle through the FHIR exchange's bulk intake (批量导入).

    Each bundle is written as its institution's system, all or nothing, as a request
    would be; validation runs in worker processes ahead of the writer. Counts what was
    refused and why.
    """

    def items() -> Iterator[intake.Item]:
        for path, data in iter_demo_bundles(out_dir):
            code = path.name.split(".")[0]
            org_id = organization_ids.get(code)
            if org_id is None:
                result.refused["unknown institution"] = (
                    result.refused.get("unknown institution", 0) + 1
                )
                continue
            yield intake.Item(_institution_system(code, org_id), data, path.name)

    for done, outcome in enumerate(intake.import_bundles(factory, items()), start=1):
        if outcome.error is not None:
            reason = outcome.error.message.split(":")[0][:80]  # by kind, not offending value
            result.refused[reason] = result.refused.get(reason, 0) + 1
        else:
            result.ingested += outcome.resources
        if progress:
            progress("导入 FHIR bundles", done, total)


def seed(
    factory: sessionmaker[Session],
    out_dir: Path,
    *,
    residents: int = DEMO_RESIDENTS,
    days: int = DEMO_DAYS,
    seed_value: int = DEMO_SEED,
    progress: Progress | None = None,
) -> DemoResult:
    """Generate the demo region, load it and ingest it; a seeded database is left as it is."""
    load_all()  # the domains' projectors see the ingested bundles
    with session_scope(factory) as session:
        if count := _organization_count(session):
            return DemoResult(generated=False, organizations=count)
    generated = generate_demo(
        out_dir, residents=residents, days=days, seed=seed_value, progress=progress
    )
    with session_scope(factory) as session:
        loaded = registry.load_registry(session, **read_registry(out_dir))
        accounts = _accounts(session, loaded.organization_ids)
    result = DemoResult(
        generated=True,
        organizations=len(loaded.organization_ids),
        resources=generated.resources,
        bundles=generated.bundles,
        accounts=accounts,
        bundle_dir=out_dir,
    )
    ingest(factory, out_dir, loaded.organization_ids, generated.bundles, result, progress)
    seed_domains(factory, result, progress)
    return result


def seed_domains(
    factory: sessionmaker[Session], result: DemoResult, progress: Progress | None = None
) -> None:
    """Run each domain's demo seeder in its own transaction; a failing one skips only itself."""
    for done, name in enumerate(DOMAIN_SEEDERS, start=1):
        domain = name.split(".", 1)[1].rsplit(".", 1)[0]
        try:
            seeder = importlib.import_module(name).seed_demo
            with session_scope(factory) as session:
                line = seeder(session)
        except Exception as exc:  # a broken demo seeder must not cost the whole demo
            log.exception("demo data for %s failed", domain)
            line = f"{domain}: demo data failed ({str(exc).splitlines()[0][:160]})"
        result.domains.append(line)
        if progress:
            progress("各业务域演示数据", done, len(DOMAIN_SEEDERS))
