"""The audit chain on SQLite and PostgreSQL: append, verify, tamper detection, concurrency."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from yilian import cli
from yilian.audit import service
from yilian.audit.models import GENESIS_HASH, AuditEntry, AuditHead
from yilian.config import get_settings
from yilian.db import make_sessionmaker
from yilian.security.models import User
from yilian.security.principal import Principal, Role

DOCTOR = Principal(subject="u-1", name="wang", role=Role.doctor, organization_id=None)


def append(session: Session, n: int, *, person_id: str = "p-1") -> None:
    for i in range(n):
        service.record(
            session,
            DOCTOR,
            action="read",
            resource_type="Observation",
            resource_id=f"obs-{i}",
            person_id=person_id,
            purpose="treatment",
            outcome="allowed",
            detail={"i": i},
        )
    session.commit()


def seqs(session: Session) -> list[int]:
    return list(session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[None]:
    monkeypatch.setenv("YILIAN_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_verify() -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["audit", "verify"])
    return result.exit_code, result.output.strip()


def test_empty_chain_is_intact(session: Session) -> None:
    assert service.verify(session) == service.VerifyResult(True, 0)


def test_entries_form_a_gapless_linked_chain(session: Session) -> None:
    append(session, 5)
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    head = session.execute(select(AuditHead)).scalar_one()
    assert (head.seq, head.hash) == (5, rows[-1].hash)
    assert rows[0].actor_id == "u-1" and rows[0].actor_role == "doctor"
    assert json.loads(rows[2].detail or "{}") == {"i": 2}
    assert service.verify(session) == service.VerifyResult(True, 5)


def test_rolled_back_append_leaves_no_gap(session: Session) -> None:
    append(session, 2)
    service.record(session, None, action="read", resource_type="X", outcome="allowed")
    session.rollback()
    append(session, 1)
    assert seqs(session) == [1, 2, 3]
    assert service.verify(session).ok


def test_edited_row_is_reported_by_verify_and_the_cli(session: Session, cli_env: None) -> None:
    append(session, 6)
    assert run_verify() == (0, "audit chain intact: 6 entries")
    session.execute(text("UPDATE audit_entries SET outcome = 'denied' WHERE seq = 4"))
    session.commit()
    result = service.verify(session)
    assert not result.ok
    assert result.first_broken_seq == 4
    assert result.checked == 3
    assert "altered" in (result.reason or "")
    code, output = run_verify()
    assert code == 1
    assert output.startswith("audit chain broken at entry #4:")


def test_edit_with_recomputed_hash_breaks_the_next_link(session: Session) -> None:
    append(session, 4)
    row = session.execute(select(AuditEntry).where(AuditEntry.seq == 2)).scalar_one()
    from yilian.audit import chain

    fields = {name: getattr(row, name) for name in chain.HASHED_FIELDS}
    fields["purpose"] = "insurance"
    forged = chain.entry_hash(row.prev_hash, fields)
    session.execute(
        text("UPDATE audit_entries SET purpose = 'insurance', hash = :h WHERE seq = 2"),
        {"h": forged},
    )
    session.commit()
    result = service.verify(session)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "prev_hash" in (result.reason or "")


def test_deleted_row_is_detected(session: Session, cli_env: None) -> None:
    append(session, 5)
    session.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    session.commit()
    result = service.verify(session)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "missing" in (result.reason or "")
    assert run_verify()[0] == 1


def test_deleted_and_renumbered_rows_are_detected(session: Session) -> None:
    append(session, 5)
    session.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    session.execute(text("UPDATE audit_entries SET seq = seq - 1 WHERE seq > 3"))
    session.execute(text("UPDATE audit_head SET seq = 4"))
    session.commit()
    result = service.verify(session)
    assert (result.ok, result.first_broken_seq) == (False, 3)


def test_truncation_at_the_end_is_detected(session: Session, cli_env: None) -> None:
    append(session, 5)
    session.execute(text("DELETE FROM audit_entries WHERE seq >= 4"))
    session.commit()
    result = service.verify(session)
    assert (result.ok, result.checked, result.first_broken_seq) == (False, 3, 4)
    assert "removed from the end" in (result.reason or "")
    code, output = run_verify()
    assert (code, output.split(":")[0]) == (1, "audit chain broken at entry #4")


def test_row_smuggled_in_past_the_head_is_detected(session: Session) -> None:
    append(session, 2)
    session.execute(
        text(
            "INSERT INTO audit_entries (seq, at, action, resource_type, outcome, prev_hash, hash)"
            " SELECT 3, at, action, resource_type, outcome, hash, hash FROM audit_entries"
            " WHERE seq = 2"
        )
    )
    session.commit()
    result = service.verify(session)
    assert (result.ok, result.first_broken_seq) == (False, 3)


def test_missing_head_with_entries_is_detected_and_appends_resume(session: Session) -> None:
    append(session, 3)
    session.execute(text("DELETE FROM audit_head"))
    session.commit()
    assert not service.verify(session).ok
    append(session, 1)  # the head is rebuilt from the last entry
    assert seqs(session) == [1, 2, 3, 4]
    assert service.verify(session).ok


def test_verify_streams_in_chunks(session: Session) -> None:
    append(session, 7)
    assert service.verify(session, chunk=2) == service.VerifyResult(True, 7)
    session.execute(text("UPDATE audit_entries SET action = 'delete' WHERE seq = 6"))
    session.commit()
    assert service.verify(session, chunk=2).first_broken_seq == 6


def test_identifiers_never_reach_an_entry(session: Session) -> None:
    service.record(
        session,
        None,
        action="read",
        resource_type="Patient",
        resource_id="idcard-310105199001011234",
        outcome="allowed",
        detail={"query": "310105199001011234", "phone": "13912345678"},
    )
    session.commit()
    raw = session.execute(text("SELECT resource_id, detail FROM audit_entries")).one()
    assert "310105199001011234" not in raw.resource_id
    assert "310105199001011234" not in raw.detail
    assert "13912345678" not in raw.detail


def test_kept_entry_survives_a_rollback(session: Session, engine: Engine) -> None:
    append(session, 1)
    service.record(
        session,
        DOCTOR,
        action="access_denied",
        resource_type="Patient",
        person_id="p-9",
        outcome="denied",
        keep_on_rollback=True,
    )
    service.record(
        session, DOCTOR, action="read", resource_type="Patient", person_id="p-9", outcome="allowed"
    )
    session.rollback()
    with make_sessionmaker(engine)() as fresh:
        rows = fresh.execute(select(AuditEntry.seq, AuditEntry.action)).all()
        assert [tuple(r) for r in rows] == [(1, "read"), (2, "access_denied")]
        assert service.verify(fresh).ok


def test_kept_entry_is_not_duplicated_on_commit(session: Session) -> None:
    service.record(
        session,
        DOCTOR,
        action="access_denied",
        resource_type="Patient",
        outcome="denied",
        keep_on_rollback=True,
    )
    session.commit()
    session.rollback()
    assert seqs(session) == [1]


@pytest.mark.parametrize("threads,per_thread", [(8, 15)])
def test_concurrent_appends_keep_the_chain_gapless(
    session: Session, engine: Engine, threads: int, per_thread: int
) -> None:
    factory = make_sessionmaker(engine)
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with factory() as s:
                    service.record(
                        s,
                        DOCTOR,
                        action="read",
                        resource_type="Observation",
                        resource_id=f"{n}-{i}",
                        person_id=f"p-{n}",
                        outcome="allowed",
                    )
                    s.commit()
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not errors, errors
    total = threads * per_thread
    assert seqs(session) == list(range(1, total + 1))
    assert (
        session.execute(select(func.count(func.distinct(AuditEntry.resource_id)))).scalar() == total
    )
    assert service.verify(session) == service.VerifyResult(True, total)


def test_record_waits_for_the_commit(session: Session) -> None:
    entry = service.record(session, DOCTOR, action="read", resource_type="X", outcome="allowed")
    assert service.pending(session) == [entry]
    assert seqs(session) == []
    session.commit()
    assert service.pending(session) == []
    assert entry.seq == 1 and len(entry.hash) == 64


def test_auditing_before_a_write_cannot_deadlock_with_the_reverse_order(
    session: Session, engine: Engine, make_user: Callable[..., User]
) -> None:
    """A records then updates row R; B updates R then records. Neither may wait on the other."""
    user_id = make_user("shared.row", role=Role.admin).id
    factory = make_sessionmaker(engine)
    both_started = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def touch(s: Session) -> None:
        s.execute(
            update(User).where(User.id == user_id).values(display_name=f"{threading.get_ident()}")
        )

    def audit_then_write() -> None:
        try:
            with factory() as s:
                service.record(s, DOCTOR, action="read", resource_type="X", outcome="allowed")
                both_started.wait()
                touch(s)
                s.commit()
        except BaseException as exc:
            errors.append(exc)

    def write_then_audit() -> None:
        try:
            with factory() as s:
                touch(s)
                both_started.wait()
                service.record(s, DOCTOR, action="update", resource_type="X", outcome="allowed")
                s.commit()
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=f) for f in (audit_then_write, write_then_audit)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not errors, errors
    assert service.verify(session).ok
    assert (
        session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.resource_type == "X")
        ).scalar()
        == 2
    )
