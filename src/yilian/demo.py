"""The demo: a synthetic district generated, loaded and served — the README's first command.

A flow across domains (dispatch's ``flows.py`` habit): synth generates the region,
the registry loads its institutions, security gets one account per role, and the
generated bundles wait in ``var/demo`` for the FHIR exchange to ingest them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security import repository as security_repo
from yilian.security import service as security
from yilian.security.principal import Role
from yilian.synth.demo import DEMO_DAYS, DEMO_RESIDENTS, DEMO_SEED, generate_demo
from yilian.synth.generate import Progress
from yilian.synth.load import read_registry

DEMO_PASSWORD = "yilian-demo"

# username, role, organisation code (None: platform-wide), display name
DEMO_ACCOUNTS: list[tuple[str, Role, str | None, str]] = [
    ("admin", Role.admin, None, "平台管理员"),
    ("commission", Role.commission, None, "长宁区卫健委"),
    ("doctor", Role.doctor, "310105C001", "新华街道社区卫生服务中心 家庭医生"),
    ("specialist", Role.specialist, "310105H001", "同仁医院 专家"),
    ("cdc", Role.cdc, "310105P001", "长宁区疾控中心"),
    ("insurer", Role.insurer, "310000Y001", "上海市医疗保障局"),
]


@dataclass
class DemoResult:
    generated: bool
    organizations: int
    resources: int = 0
    bundles: int = 0
    accounts: list[str] = field(default_factory=list)
    bundle_dir: Path | None = None


def is_seeded(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Organization)) or 0) > 0


def seed(
    session: Session,
    out_dir: Path,
    *,
    residents: int = DEMO_RESIDENTS,
    days: int = DEMO_DAYS,
    seed_value: int = DEMO_SEED,
    progress: Progress | None = None,
) -> DemoResult:
    """Generate the demo region into ``out_dir`` and load it; a seeded database is left as it is."""
    if is_seeded(session):
        count = session.scalar(select(func.count()).select_from(Organization)) or 0
        return DemoResult(generated=False, organizations=count)
    result = generate_demo(
        out_dir, residents=residents, days=days, seed=seed_value, progress=progress
    )
    loaded = registry.load_registry(session, **read_registry(out_dir))
    accounts = []
    for username, role, org_code, display in DEMO_ACCOUNTS:
        if security_repo.user_by_username(session, username) is not None:
            continue
        org_id = loaded.organization_ids[org_code] if org_code else None
        security.create_user(
            session,
            None,
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            organization_id=org_id,
            display_name=display,
        )
        accounts.append(username)
    return DemoResult(
        generated=True,
        resources=result.resources,
        bundles=result.bundles,
        organizations=len(loaded.organization_ids),
        accounts=accounts,
        bundle_dir=out_dir,
    )
