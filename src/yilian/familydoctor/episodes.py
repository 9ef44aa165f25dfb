"""家庭医生签约 sent through the exchange as FHIR ``EpisodeOfCare``: projected into contracts.

A centre's HIS sends one EpisodeOfCare per contract term (the synthetic region does so
at each yearly renewal): ``type`` says it is a family-doctor contract, ``period`` gives
the term, ``managingOrganization`` the centre, ``careManager`` the family doctor and the
contract-combination extension the "1+1+1" hospitals. What happens to it:

- a new term at the centre that holds the person's current contract → a renewal (the
  old row becomes ``renewed``, as ``/renew`` does); an earlier term arriving late is kept
  as history (``renewed``: it covers its own period);
- ``finished`` → the contract ends on ``period.end``; ``entered-in-error``/``cancelled``
  → it ends and no longer counts; a re-send updates the same contract (idempotent on
  ``EpisodeOfCare/<id>``);
- the person is already under an active contract at **another** centre, no team can be
  chosen, the dates make no sense … → nothing is signed and an **issue** is recorded with
  the reason (``familydoctor_episode_issues``): the bundle is never refused for it (the
  episode is the institution's own record) and the centre sees, fixes and replays it.

The team is the one at the centre whose member is the care manager (the family doctor),
else the centre's only team.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.db import new_id, utcnow
from yilian.familydoctor import repository as repo
from yilian.familydoctor import rules, service
from yilian.familydoctor.config import get_familydoctor_settings
from yilian.familydoctor.models import Contract, EpisodeIssue, Team
from yilian.kit.errors import Forbidden
from yilian.records.projectors import StoredResource
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security import service as security
from yilian.security.principal import Principal, Role

CONTRACT_COMBINATION = "contract-combination"  # StructureDefinition name of the "1+1+1" extension

# Why an episode was not taken in (EpisodeIssue.reason_code).
ACTIVE_ELSEWHERE = "active_elsewhere"
OVERLAP = "overlap"
NO_TEAM = "no_team"
NO_CENTRE = "no_centre"
BAD_PERIOD = "bad_period"
ISSUE_CODES = (ACTIVE_ELSEWHERE, OVERLAP, NO_TEAM, NO_CENTRE, BAD_PERIOD)

_VOID = {"entered-in-error", "cancelled"}
_IGNORED = {"waitlist"}  # not (yet) a contract


class Refused(Exception):
    """An episode that cannot become a contract, with the reason a centre can act on."""

    def __init__(self, code: str, reason: str, organization_id: str | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.organization_id = code, reason, organization_id


@dataclass(frozen=True)
class Outcome:
    """What became of one episode: a contract, an issue, or nothing (not a contract episode)."""

    contract: Contract | None = None
    issue: EpisodeIssue | None = None


def is_contract_episode(resource: Mapping[str, Any]) -> bool:
    codes = get_familydoctor_settings().contract_episode_types
    return any(
        isinstance(c, Mapping) and c.get("code") in codes
        for t in resource.get("type") or []
        if isinstance(t, Mapping)
        for c in t.get("coding") or []
    )


@dataclass(frozen=True)
class Episode:
    """A contract episode to take in: whose it is, the resource, where it came from."""

    person_id: str
    resource: Mapping[str, Any]
    source_ref: str  # EpisodeOfCare/<id>
    sender_org_id: str | None


def project_episode(session: Session, stored: StoredResource) -> None:
    """Projector: take a family-doctor contract episode in, or record why it was not."""
    project_episodes(session, [stored])


def project_episodes(session: Session, stored: Sequence[StoredResource]) -> None:
    """Projector: take a write's family-doctor contract episodes in, in order, or record why not."""
    take_in_many(
        session,
        [
            Episode(str(s.person_id), s.resource, f"EpisodeOfCare/{s.id}", s.source_org_id)
            for s in stored
            if s.person_id and is_contract_episode(s.resource)
        ],
    )


def take_in(
    session: Session,
    *,
    person_id: str,
    resource: Mapping[str, Any],
    source_ref: str,
    sender_org_id: str | None,
) -> Outcome:
    """Create, renew, update or end the contract an episode describes; never raise for it."""
    return take_in_many(session, [Episode(person_id, resource, source_ref, sender_org_id)])[0]


def take_in_many(session: Session, episodes: Sequence[Episode]) -> list[Outcome]:
    """:func:`take_in` for many episodes: the same outcomes as one by one, in order.

    What the batch reads is read once (:class:`_Lookups`) and what it writes is flushed
    once, in one savepoint. If that flush fails (another transaction signed one of the
    persons meanwhile), the batch is undone and taken again one episode at a time, so
    that only the episode that lost the race becomes an issue.
    """
    if not episodes:
        return []
    look = _Lookups(session, episodes)
    mark = audit.mark(session)
    try:
        with session.begin_nested(), session.no_autoflush:
            outcomes = [_take(look, e) for e in episodes]
            session.flush()
    except IntegrityError:  # another contract for a person was just written
        audit.forget_since(session, mark)  # the savepoint undid what these entries record
        if len(episodes) > 1:
            return [take_in_many(session, [e])[0] for e in episodes]
        (e,) = episodes
        race = Refused(ACTIVE_ELSEWHERE, f"person {e.person_id} was just signed by another team")
        issue = _issue(_Lookups(session, episodes), e, race)
        session.flush([issue])
        return [Outcome(issue=issue)]
    return outcomes


def _take(look: _Lookups, e: Episode) -> Outcome:
    try:
        contract = _apply(look, e)
    except Refused as why:  # raised before anything was changed
        return Outcome(issue=_issue(look, e, why))
    issue = look.issues.get(e.source_ref)
    if issue is not None and issue.status == "open":
        issue.status = "resolved"
    return Outcome(contract=contract)


class _Lookups:
    """What a batch of episodes reads, fetched once, and kept current as the batch is decided.

    The contracts and issues of the batch's sources and persons and their birth dates
    come in one IN query each; organisations, practitioners, regions and teams are
    fetched once per batch. A contract the batch creates or ends is entered here, so
    each episode sees what the ones before it did (a term and its renewal in one batch).
    """

    def __init__(self, session: Session, episodes: Sequence[Episode]) -> None:
        self.session = session
        self.episodes = episodes
        refs = {e.source_ref for e in episodes}
        persons = {e.person_id for e in episodes}
        self.by_source: dict[str, Contract] = {}
        for c in repo.contracts_by_sources(session, refs):
            self.by_source.setdefault(str(c.source_ref), c)
        self._open = {c.person_id: c for c in repo.open_contracts(session, persons)}
        self.issues = {i.source_ref: i for i in repo.episode_issues_by_sources(session, refs)}
        self.births = service._birth_dates(session, persons)
        self._orgs: dict[str, Organization | None] = {}
        self._codes: dict[str, Organization | None] = {}
        self._licences: dict[str, str | None] = {}
        self._levels: dict[str, str] = {}
        self._member_teams: dict[str, list[Team]] | None = None
        self._centre_teams: dict[str, list[Team]] = {}
        self._load_orgs(
            {
                str(ref["reference"]).split("/", 1)[1]
                for e in episodes
                for ref in _org_refs(e.resource)
                if str(ref.get("reference") or "").startswith("Organization/")
            }
            | {e.sender_org_id for e in episodes if e.sender_org_id}
        )

    def open_contract(self, person_id: str) -> Contract | None:
        """The person's active row (:func:`repo.open_contract`), as the batch left it."""
        c = self._open.get(person_id)
        return c if c is not None and c.status == rules.ContractStatus.active.value else None

    def add(self, contract: Contract) -> None:
        self.session.add(contract)
        self.by_source[str(contract.source_ref)] = contract
        if contract.status == rules.ContractStatus.active.value:
            self._open[contract.person_id] = contract

    def _load_orgs(self, ids: set[str]) -> None:
        wanted = ids - self._orgs.keys()
        if wanted:
            found = registry.organizations_by_ids(self.session, wanted)
            self._orgs.update({i: found.get(i) for i in wanted})

    def org(self, organization_id: str) -> Organization:
        """:func:`registry.get_organization`: the organisation, or NotFound."""
        self._load_orgs({organization_id})
        org = self._orgs[organization_id]
        return org if org is not None else registry.get_organization(self.session, organization_id)

    def org_of_ref(self, ref: Any) -> Organization | None:
        """An organisation named by ``Organization/<id>`` or by its code identifier."""
        if not isinstance(ref, Mapping):
            return None
        reference = ref.get("reference")
        if isinstance(reference, str) and reference.startswith("Organization/"):
            organization_id = reference.split("/", 1)[1]
            self._load_orgs({organization_id})
            return self._orgs[organization_id]
        ident = ref.get("identifier")
        if isinstance(ident, Mapping) and isinstance(ident.get("value"), str):
            code = ident["value"]
            if code not in self._codes:
                self._codes[code] = registry.get_organization_by_code(self.session, code)
            return self._codes[code]
        return None

    def practitioner_id(self, ref: Any) -> str | None:
        if not isinstance(ref, Mapping):
            return None
        reference = ref.get("reference")
        if isinstance(reference, str) and reference.startswith("Practitioner/"):
            return reference.split("/", 1)[1]
        licence = _licence(ref)
        if licence is None:
            return None
        if licence not in self._licences:
            # The batch's care managers named by licence, in one query.
            wanted = {licence} | {
                n for e in self.episodes if (n := _licence(e.resource.get("careManager")))
            }
            found = registry.practitioner_ids_by_licence(self.session, wanted)
            self._licences.update({n: found.get(n) for n in wanted - self._licences.keys()})
        return self._licences[licence]
        return None

    def team_of_practitioner(self, practitioner_id: str, places: list[str]) -> Team | None:
        """:func:`repo.team_of_practitioner`, from one query for the batch's care managers."""
        if self._member_teams is None:
            ids = {self.practitioner_id(e.resource.get("careManager")) for e in self.episodes}
            self._member_teams = {i: [] for i in ids if i}
            for pid, team in repo.teams_of_practitioners(self.session, self._member_teams):
                self._member_teams[pid].append(team)
        teams = self._member_teams.get(practitioner_id)
        if teams is None:
            return repo.team_of_practitioner(self.session, practitioner_id, places)
        return next((t for t in teams if t.organization_id in places), None)

    def active_teams(self, centre_id: str) -> list[Team]:
        if centre_id not in self._centre_teams:
            self._centre_teams[centre_id] = [
                t for t in repo.teams(self.session, centre_id) if t.active
            ]
        return self._centre_teams[centre_id]

    def region_level(self, region_id: str) -> str:
        if region_id not in self._levels:
            region = registry.get_region(self.session, region_id)
            self._levels[region_id] = str(getattr(region.level, "value", ""))
        return self._levels[region_id]


def _licence(ref: Any) -> str | None:
    """The licence number (执业证号) a practitioner reference names by identifier."""
    if not isinstance(ref, Mapping):
        return None
    ident = ref.get("identifier")
    if isinstance(ident, Mapping) and isinstance(ident.get("value"), str):
        return str(ident["value"])
    return None


def _org_refs(res: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The organisation references of an episode: the managing one and the "1+1+1" ones."""
    refs = [res.get("managingOrganization")]
    refs += [
        ext.get("valueReference") for ext in res.get("extension") or [] if isinstance(ext, Mapping)
    ]
    return [r for r in refs if isinstance(r, Mapping)]


def _apply(look: _Lookups, e: Episode) -> Contract | None:
    res = e.resource
    status = str(res.get("status") or "active")
    existing = look.by_source.get(e.source_ref)
    if status in _IGNORED:
        return existing
    if existing is not None:
        return _update(look.session, existing, res, status)
    if status in _VOID:
        return None
    cfg = get_familydoctor_settings()
    period = _period(res)
    start = _date(period.get("start"))
    if start is None:
        raise Refused(BAD_PERIOD, "the episode has no period.start")
    end = _date(period.get("end")) or rules.default_end(start, cfg.contract_term_days)
    problem = rules.contract_period_problem(
        start,
        end,
        today=service.today(),
        term_days=cfg.contract_term_days,
        birth=look.births.get(e.person_id),
    )
    if problem:
        raise Refused(BAD_PERIOD, f"period: {problem[1]}")
    centre, station = _centre(look, res.get("managingOrganization"), e.sender_org_id)
    team_id, practitioner_id = _team(look, centre, station, res.get("careManager"))
    district, city = _combination(look, res)
    current = look.open_contract(e.person_id)
    if current is not None and current.end < start:
        if current.organization_id == centre.id and start - current.end <= RENEWAL_GAP:
            renewed_from: Contract | None = current  # the next term, on time or a bit late
        else:
            service.expire(current)
            renewed_from = None
        current = None
    else:
        renewed_from = None
    contract = Contract(
        id=new_id(),
        person_id=e.person_id,
        organization_id=centre.id,
        station_id=station.id if station else None,
        team_id=team_id,
        doctor_practitioner_id=practitioner_id,
        kind=rules.ContractKind.individual.value,
        district_hospital_id=district,
        city_hospital_id=city,
        start=start,
        end=end,
        status=rules.ContractStatus.active.value,
        categories=[],
        source="fhir",
        source_ref=e.source_ref,
        created_by="fhir",
    )
    if status == "finished":
        contract.status = rules.ContractStatus.ended.value
        contract.ended_reason = "finished (EpisodeOfCare)"
    if current is not None:
        _fit_beside(look, current, contract, centre)
    elif renewed_from is not None and contract.status != rules.ContractStatus.ended.value:
        renewed_from.status = rules.ContractStatus.renewed.value
        contract.renewed_from_id = renewed_from.id
    look.add(contract)
    if contract.status != rules.ContractStatus.ended.value:
        service._after_sign(look.session, None, contract)
    return contract


def _fit_beside(look: _Lookups, current: Contract, new: Contract, centre: Organization) -> None:
    """Place a new term next to the person's active contract, or refuse it with the reason."""
    ended = rules.ContractStatus.ended.value
    same_centre = current.organization_id == centre.id
    if new.status == ended:
        return  # a finished term holds no place: history
    if new.end < current.start:
        # An earlier term arriving late: it covered its own period (renewed at the same
        # centre, ran out elsewhere).
        if same_centre:
            new.status = rules.ContractStatus.renewed.value
        else:
            new.status, new.ended_reason = ended, "expired"
        return
    if not same_centre:
        org = look.org(current.organization_id)
        raise Refused(
            ACTIVE_ELSEWHERE,
            f"person {current.person_id} already has an active contract with {org.name} "
            f"({current.start.isoformat()} – {current.end.isoformat()}); it must end first",
            centre.id,
        )
    if new.start > current.start and new.start > current.end - RENEWAL_OVERLAP:
        # The next term at the same centre (续约): the current one is superseded.
        current.status = rules.ContractStatus.renewed.value
        new.renewed_from_id = current.id
        return
    raise Refused(
        OVERLAP,
        f"the term {new.start.isoformat()} – {new.end.isoformat()} overlaps contract "
        f"{current.id} ({current.start.isoformat()} – {current.end.isoformat()}) at the "
        "same centre",
        centre.id,
    )


# A renewal may be signed a little before the current term ends (the next term then starts
# on the day it was signed); more overlap than this is a second, conflicting contract. A
# term starting up to a month after the last one ended still renews it (续约 signed late).
RENEWAL_OVERLAP = timedelta(days=31)
RENEWAL_GAP = timedelta(days=31)


def _update(session: Session, contract: Contract, res: Mapping[str, Any], status: str) -> Contract:
    """A re-sent episode: end or void the contract it made, or move its end date."""
    period = _period(res)
    end = _date(period.get("end"))
    ended = rules.ContractStatus.ended.value
    if status in _VOID or status == "finished":
        if contract.status == ended:
            return contract
        contract.status = ended
        contract.ended_reason = f"{status} (EpisodeOfCare)"
        if status == "finished" and end is not None and contract.start <= end <= contract.end:
            contract.end = end
        security.end_relationship(
            session,
            person_id=contract.person_id,
            organization_id=contract.organization_id,
            kind="contract",
            source=f"familydoctor:{contract.id}",
            at=utcnow(),
            principal=None,
        )
        _audit(session, contract, {"status": ended, "reason": contract.ended_reason})
    elif end is not None and end != contract.end and contract.status != ended:
        problem = rules.contract_period_problem(
            contract.start,
            end,
            today=service.today(),
            term_days=get_familydoctor_settings().contract_term_days,
        )
        if problem:
            raise Refused(BAD_PERIOD, f"period: {problem[1]}", contract.organization_id)
        contract.end = end
        _audit(session, contract, {"end": end.isoformat()})
    return contract


def _audit(session: Session, contract: Contract, detail: dict[str, Any]) -> None:
    audit.record(
        session,
        None,
        action="update",
        resource_type="FamilyDoctorContract",
        resource_id=contract.id,
        person_id=contract.person_id,
        outcome="success",
        detail={"source": contract.source_ref, **detail},
    )


def _issue(look: _Lookups, e: Episode, why: Refused) -> EpisodeIssue:
    issue = look.issues.get(e.source_ref)
    if issue is None:
        issue = look.issues[e.source_ref] = EpisodeIssue(id=new_id(), source_ref=e.source_ref)
        look.session.add(issue)
    issue.person_id = e.person_id
    issue.organization_id = why.organization_id or issue.organization_id
    issue.reason_code = why.code
    issue.reason = why.reason[:500]
    issue.status = "open"
    issue.resource = dict(e.resource)
    audit.record(
        look.session,
        None,
        action="create",
        resource_type="FamilyDoctorEpisodeIssue",
        resource_id=issue.id,
        person_id=e.person_id,
        outcome="failure",
        detail={"source": e.source_ref, "reason": why.code},
    )
    return issue


def _period(res: Mapping[str, Any]) -> Mapping[str, Any]:
    period = res.get("period")
    return period if isinstance(period, Mapping) else {}


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).date()
    except ValueError:
        return None


def _centre(
    look: _Lookups, ref: Any, sender_org_id: str | None
) -> tuple[Organization, Organization | None]:
    """The community centre (and station) managing the contract: the named one or the sender."""
    org = look.org_of_ref(ref)
    if org is None and sender_org_id:
        org = look.org(sender_org_id)
    if org is None:
        raise Refused(NO_CENTRE, "managingOrganization names no organisation known here")
    kind = service._type(org)
    if kind in service.STATION_TYPES and org.parent_id:
        return look.org(org.parent_id), org
    if kind not in service.CENTRE_TYPES:
        raise Refused(NO_CENTRE, f"{org.name} is not a community health centre or station", org.id)
    return org, None


def _team(
    look: _Lookups, centre: Organization, station: Organization | None, manager: Any
) -> tuple[str, str | None]:
    """(team id, the care manager's practitioner id): the manager's team, else the only team."""
    practitioner_id = look.practitioner_id(manager)
    places = [centre.id] + ([station.id] if station else [])
    if practitioner_id:
        team = look.team_of_practitioner(practitioner_id, places)
        if team is not None:
            return team.id, practitioner_id
    teams = look.active_teams(centre.id)
    if len(teams) == 1:
        return teams[0].id, practitioner_id
    who = "the care manager" if practitioner_id else "no care manager given, and"
    raise Refused(
        NO_TEAM,
        f"no team at {centre.name} has {who} as a member ({len(teams)} teams there); "
        "add the family doctor to a team, then replay",
        centre.id,
    )


def _combination(look: _Lookups, res: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The "1+1+1" district and city hospitals from the contract-combination extension."""
    district = city = None
    for ext in res.get("extension") or []:
        if not isinstance(ext, Mapping) or not str(ext.get("url", "")).endswith(
            CONTRACT_COMBINATION
        ):
            continue
        org = look.org_of_ref(ext.get("valueReference"))
        if org is None or not service._type(org).endswith("hospital"):
            continue
        if look.region_level(org.region_id) in ("city", "province"):
            city = city or org.id
        else:
            district = district or org.id
    return district, city


# --- issues: what a centre sees and replays -----------------------------------------


def _scope(principal: Principal) -> str | None:
    if principal.role in service.OVERSIGHT_ROLES:
        return None
    if principal.role != Role.doctor or not principal.organization_id:
        raise Forbidden("only a centre's doctors or an oversight role may see contract issues")
    return principal.organization_id


def list_issues(
    session: Session, principal: Principal, *, status: str | None, limit: int, offset: int
) -> list[EpisodeIssue]:
    """Contract episodes not taken in: the principal's centre, or every centre for oversight."""
    return repo.episode_issues(
        session, status=status, organization_id=_scope(principal), limit=limit, offset=offset
    )


def replay(session: Session, principal: Principal) -> tuple[int, int]:
    """Try the open issues again (after a team was set up or a contract ended): (taken, open)."""
    if principal.role not in service.WRITE_ROLES:
        raise Forbidden("only a family doctor or an administrator may replay contract issues")
    return replay_open(session, None if principal.role == Role.admin else _scope(principal))


def replay_open(session: Session, organization_id: str | None = None) -> tuple[int, int]:
    """Re-run the open issues of one centre (or all), oldest first: (taken in, still open)."""
    issues = repo.episode_issues(session, status="open", organization_id=organization_id)
    outcomes = take_in_many(
        session,
        [
            Episode(i.person_id, i.resource, i.source_ref, i.organization_id)
            for i in issues
            if i.person_id is not None
        ],
    )
    taken = sum(out.contract is not None for out in outcomes)
    return taken, len(issues) - taken
