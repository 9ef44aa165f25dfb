"""Worklists (家庭医生工作清单) and the reminders made from them for SMS/WeChat gateways.

A worklist is computed, not stored: chronic follow-ups due (the chronic domain),
screening and prevention invitations, abnormal results (this domain's projection) and
down-referrals received (the referral domain). The whole district is built with
set-based queries (no id lists sent to the database); a batch of persons (the
reminder job) with their ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.db import new_id, utcnow
from yilian.familydoctor import repository as repo
from yilian.familydoctor import rules
from yilian.familydoctor.config import get_familydoctor_settings
from yilian.familydoctor.models import Contract, Reminder
from yilian.familydoctor.rules import ItemKind
from yilian.familydoctor.schemas import AckIn
from yilian.familydoctor.service import PPV23, other_domain, today
from yilian.kit.crypto import get_cipher
from yilian.kit.errors import Conflict, Forbidden, NotFound
from yilian.registry import service as registry
from yilian.security.principal import Principal, Role

# Plain strings in the hot loop: an enum attribute costs a descriptor call per item.
FOLLOWUP, CRC_INVITE, CRC_FIT2, CRC_COLONOSCOPY = (
    "followup",
    "crc_invite",
    "crc_fit2",
    "crc_colonoscopy",
)
PPV23_INVITE, HEALTH_CHECK, ABNORMAL, DOWN_REFERRAL = (
    "ppv23_invite",
    "health_check",
    "abnormal",
    "down_referral",
)
IN_PROGRESS, REFERRED = rules.CrcStatus.in_progress.value, rules.CrcStatus.referred.value
# Above this many persons a scoped build asks the chronic domain for everything due and
# filters here: one range scan beats thousands of ids sent in chunks.
FILTER_LOCALLY_ABOVE = 2000


@dataclass(slots=True)
class WorkItem:
    person_id: str
    kind: str
    due_date: date
    overdue_days: int
    organization_id: str | None
    team_id: str | None
    detail: str = ""
    ref: str | None = None

    @property
    def label(self) -> str:
        return rules.ITEM_LABELS.get(ItemKind(self.kind), self.kind)


@dataclass(slots=True)
class Person:
    """A contracted person in the worklist's scope."""

    person_id: str
    organization_id: str
    team_id: str
    doctor_user_id: str | None
    contract_id: str
    birth_date: date | None
    phone_encrypted: str | None
    phone_masked: str | None
    name_masked: str | None


@dataclass
class Worklist:
    on: date
    items: list[WorkItem] = field(default_factory=list)
    people: dict[str, Person] = field(default_factory=dict)

    def of_kind(self, *kinds: str) -> list[WorkItem]:
        wanted = set(kinds)
        return [i for i in self.items if i.kind in wanted]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.items:
            out[i.kind] = out.get(i.kind, 0) + 1
        return out


def _anniversary(birth: date, age: int) -> date:
    try:
        return birth.replace(year=birth.year + age)
    except ValueError:  # born on 29 February
        return date(birth.year + age, 3, 1)


def _followups_due(session: Session, person_ids: list[str] | None, on: date) -> list[Any]:
    fn = other_domain("yilian.chronic.service", "followups_due")
    if fn is None:
        return []
    return list(fn(session, person_ids=person_ids, on=on))


def _down_referrals(session: Session, organization_id: str) -> list[Any]:
    fn = other_domain("yilian.referral.service", "down_referrals_received")
    if fn is None:
        return []
    return list(fn(session, organization_id))


def _scope(session: Session, organization_id: str | None, team_id: str | None) -> dict[str, Any]:
    """A station's doctors see the contracts signed at their station; a centre's, all of its."""
    if organization_id is None:
        return {"team_id": team_id}
    org = registry.get_organization(session, organization_id)
    if str(getattr(org.type, "value", org.type)) == "community_health_station":
        return {"station_id": organization_id, "team_id": team_id}
    return {"organization_id": organization_id, "team_id": team_id}


def build_worklist(
    session: Session,
    *,
    on: date | None = None,
    organization_id: str | None = None,
    team_id: str | None = None,
    after_person_id: str | None = None,
    limit: int | None = None,
) -> Worklist:
    """Everything due for contracted residents in scope: follow-ups (today and overdue),
    screening invitations, abnormal results to act on and down-referrals received.

    Without a scope: the whole district. With ``after_person_id``/``limit``: one batch of
    persons in id order (the reminder job), without down-referrals (not reminded).
    """
    cfg = get_familydoctor_settings()
    on = on or today()
    scope = _scope(session, organization_id, team_id)
    stmt = repo.scoped_contracts(on, after_person_id=after_person_id, **scope)
    if limit is not None:
        stmt = stmt.order_by(Contract.person_id).limit(limit)
    people = {r[0]: Person(*r) for r in session.execute(stmt).tuples()}
    wl = Worklist(on=on, people=people)
    if not people:
        return wl
    batch = limit is not None
    ids = sorted(people)
    persons: Any = (
        select(Contract.person_id).where(Contract.person_id.in_(ids)).distinct()
        if batch
        else repo.contracted_person_ids(on, **scope)
    )
    items = wl.items
    append = items.append

    def add(p: Person, kind: str, due: date, detail: str = "", ref: str | None = None) -> None:
        overdue = (on - due).days
        append(
            WorkItem(
                p.person_id,
                kind,
                due,
                overdue if overdue > 0 else 0,
                p.organization_id,
                p.team_id,
                detail,
                ref,
            )
        )

    # Follow-ups of the chronic programmes: today and overdue.
    local = organization_id is None and team_id is None and not batch
    local = local or len(ids) > FILTER_LOCALLY_ABOVE
    for f in _followups_due(session, None if local else ids, on):
        p = people.get(f.person_id)
        if p is not None:
            add(p, FOLLOWUP, f.due_date, f"{f.programme}:{f.kind}")
    # Screening and prevention.
    year_start = date(on.year, 1, 1)
    crc = {r[0]: r for r in repo.crc_rows(session, persons, on.year - cfg.crc_rescreen_years + 1)}
    ppv = repo.vaccinated(session, persons, PPV23)
    checked = repo.checked(session, persons, on.year)
    crc_min, crc_max = cfg.crc_min_age, cfg.crc_max_age
    ppv_min, elderly = cfg.ppv23_min_age, cfg.elderly_age
    ppv_due_floor = year_start
    for pid, p in people.items():
        birth = p.birth_date
        if birth is None:
            continue
        age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
        row = crc.get(pid)
        if row is None:
            if crc_min <= age <= crc_max:
                add(p, CRC_INVITE, year_start)
        else:
            _pid, status, fit2_due, referred_on, colonoscopy_on, referral_no, crc_id = row
            if status == IN_PROGRESS and fit2_due and fit2_due <= on:
                add(p, CRC_FIT2, fit2_due, ref=crc_id)
            elif status == REFERRED and colonoscopy_on is None:
                add(p, CRC_COLONOSCOPY, referred_on or year_start, referral_no or "", crc_id)
        if age >= ppv_min and pid not in ppv:
            due = _anniversary(birth, ppv_min)
            add(p, PPV23_INVITE, due if due > ppv_due_floor else ppv_due_floor)
        if age >= elderly and pid not in checked:
            add(p, HEALTH_CHECK, year_start)
    # Abnormal results to act on.
    since = on - timedelta(days=cfg.abnormal_window_days)
    for a_id, a_pid, display, code, value, unit, flag, when in repo.open_abnormal(
        session, persons, since
    ):
        p = people.get(a_pid)
        if p is not None:
            shown = f" {value:g}{unit or ''}" if value is not None else ""
            add(p, ABNORMAL, when, f"{display or code}{shown} [{flag}]", a_id)
    # Down-referrals received by the centres in scope.
    if not batch:
        orgs = (
            {organization_id} if organization_id else {p.organization_id for p in people.values()}
        )
        for org_id in sorted(o for o in orgs if o):
            for r in _down_referrals(session, org_id):
                pid = getattr(r, "person_id", None)
                if not pid:
                    continue
                when = getattr(r, "requested_at", None)
                due = when.date() if isinstance(when, datetime) else on
                holder = people.get(pid)
                append(
                    WorkItem(
                        pid,
                        DOWN_REFERRAL,
                        due,
                        max(0, (on - due).days),
                        org_id,
                        holder.team_id if holder else None,
                        str(getattr(r, "reason", "") or "")[:200],
                        getattr(r, "id", None),
                    )
                )
    items.sort(key=lambda i: (i.due_date, i.person_id, i.kind))
    return wl


# --- reminders -----------------------------------------------------------------------


def reminder_batch(
    session: Session, *, on: date, after_person_id: str, limit: int
) -> tuple[int, str | None]:
    """Create the reminders of one batch of contracted persons; return (created, last id).

    Idempotent: (person, kind, due date) is unique and existing keys are skipped, so a
    re-run of a committed batch creates nothing. ``None`` as last id: no persons left.
    """
    cfg = get_familydoctor_settings()
    wl = build_worklist(
        session,
        on=on + timedelta(days=cfg.reminder_lead_days),
        after_person_id=after_person_id,
        limit=limit,
    )
    if not wl.people:
        return 0, None
    last = max(wl.people)
    wanted = [i for i in wl.items if i.kind in rules.REMINDED_KINDS]
    if not wanted:
        return 0, last
    have = repo.existing_reminder_keys(session, {i.person_id for i in wanted}, on)
    centres = registry.organizations_by_ids(
        session, {i.organization_id for i in wanted if i.organization_id}
    )
    rows = []
    seen: set[tuple[str, str, date]] = set()
    for i in wanted:
        key = (i.person_id, i.kind, i.due_date)
        if key in have or key in seen:
            continue
        seen.add(key)
        p = wl.people[i.person_id]
        centre = centres.get(i.organization_id or "")
        rows.append(
            {
                "id": new_id(),
                "person_id": i.person_id,
                "kind": i.kind,
                "due_date": i.due_date,
                "run_date": on,
                "organization_id": i.organization_id,
                "team_id": i.team_id,
                "channel": "sms",
                "message": rules.reminder_text(
                    i.kind,
                    i.due_date,
                    centre.short_name or centre.name if centre else "社区卫生服务中心",
                ),
                "phone_encrypted": p.phone_encrypted,
                "phone_masked": p.phone_masked,
                "status": "pending",
                "attempts": 0,
                "detail": {},
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
        )
    if rows:
        session.execute(_insert_ignore(session), rows)
    return len(rows), last


def _insert_ignore(session: Session) -> Any:
    """INSERT … ON CONFLICT DO NOTHING on the reminder key: a concurrent run adds no duplicate."""
    dialect = session.get_bind().dialect.name
    keys = ["person_id", "kind", "due_date"]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(Reminder).on_conflict_do_nothing(index_elements=keys)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(Reminder).on_conflict_do_nothing(index_elements=keys)
    return insert(Reminder)


def _reminder_scope(principal: Principal) -> str | None:
    if principal.role in (Role.admin,) or (
        principal.role == Role.system and principal.organization_id is None
    ):
        return None
    if principal.role in (Role.system, Role.doctor):
        if principal.organization_id is None:
            raise Forbidden("your account has no organisation")
        return principal.organization_id
    raise Forbidden("reminders are for gateways, family doctors and administrators")


def list_reminders(
    session: Session, principal: Principal, *, status: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Reminders for a gateway to send; the clear phone number only for a gateway (system role)."""
    org_id = _reminder_scope(principal)
    rows = repo.reminders(
        session, status=status, organization_id=org_id, limit=limit, offset=offset
    )
    disclose = principal.role == Role.system
    cipher = get_cipher() if disclose else None
    out = []
    for r in rows:
        phone = cipher.decrypt(r.phone_encrypted) if cipher and r.phone_encrypted else None
        if phone:
            audit.record(
                session,
                principal,
                action="disclose",
                resource_type="FamilyDoctorReminder",
                resource_id=r.id,
                person_id=r.person_id,
                purpose="reminder",
                outcome="success",
                detail={"field": "phone"},
            )
        out.append(
            {
                "id": r.id,
                "person_id": r.person_id,
                "kind": r.kind,
                "due_date": r.due_date,
                "channel": r.channel,
                "message": r.message,
                "phone_masked": r.phone_masked,
                "phone": phone,
                "status": r.status,
                "attempts": r.attempts,
                "sent_at": r.sent_at,
                "organization_id": r.organization_id,
            }
        )
    return out


def ack_reminder(session: Session, principal: Principal, reminder_id: str, data: AckIn) -> Reminder:
    """Mark a reminder sent or failed (a failed one stays fetchable as failed; sent is final)."""
    org_id = _reminder_scope(principal)
    row = session.get(Reminder, reminder_id)
    if row is None or (org_id is not None and row.organization_id != org_id):
        raise NotFound(f"no reminder {reminder_id}")
    if row.status == "sent":
        raise Conflict(f"reminder {reminder_id} was already acknowledged as sent")
    row.status = data.status
    row.attempts += 1
    row.error = data.error if data.status == "failed" else None
    row.sent_at = utcnow() if data.status == "sent" else None
    session.flush([row])
    return row
