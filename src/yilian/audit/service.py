"""Record audit entries on a hash chain, verify the chain, and query it.

``record()`` queues an entry on the session; the entries are appended when the
session commits, after everything else in the transaction has been flushed.
Appending starts with ``UPDATE audit_head SET seq = seq + 1``: on PostgreSQL
that takes the head row's lock, on SQLite the database write lock, both held
until the commit, so ``seq`` stays gapless and each entry links to the one
committed before it, without dialect code. Taking the head lock last, and only
for the moment of the commit, means a request that reads a record and then
updates rows cannot deadlock with another doing the same in a different order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, event, func, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from yilian.audit import chain
from yilian.audit.models import GENESIS_HASH, HEAD_ID, AuditEntry, AuditHead
from yilian.db import insert_rows, utcnow
from yilian.security.principal import Principal

log = logging.getLogger("yilian.audit")

# Queued entries: (entry, its fields, keep even if the transaction rolls back).
_PENDING = "yilian.audit.pending"
# Fields of kept entries appended in the current transaction, until it commits.
_KEPT = "yilian.audit.kept"
VERIFY_CHUNK = 1000
_ENTRIES: Table = AuditEntry.__table__  # type: ignore[assignment]
_COLUMNS = tuple(c.key for c in _ENTRIES.columns)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str | None = None


def record(
    session: Session,
    principal: Principal | None,
    *,
    action: str,
    resource_type: str,
    resource_id: str | None = None,
    person_id: str | None = None,
    purpose: str | None = None,
    outcome: str,
    detail: dict[str, Any] | None = None,
    keep_on_rollback: bool = False,
) -> AuditEntry:
    """Add an entry to the audit chain when the caller's transaction commits.

    The returned entry gets its ``seq`` and ``hash`` at the commit. With
    ``keep_on_rollback`` (refusals, break-glass) the entry is written in a
    transaction of its own if the caller's transaction does not commit.
    """
    fields: dict[str, Any] = {
        "at": utcnow(),
        "actor_id": principal.subject if principal else None,
        "actor_name": principal.name if principal else None,
        "actor_role": principal.role.value if principal else None,
        "organization_id": principal.organization_id if principal else None,
        "action": action,
        "resource_type": resource_type,
        "resource_id": chain.scrub_text(resource_id) if resource_id else None,
        "person_id": person_id,
        "purpose": purpose,
        "outcome": outcome,
        "detail": chain.dump_detail(detail),
    }
    entry = AuditEntry(**fields)
    if not session.in_transaction():
        session.begin()  # so that a rollback, not only a commit, settles the queue
    session.info.setdefault(_PENDING, []).append((entry, fields, keep_on_rollback))
    return entry


def pending(session: Session) -> list[AuditEntry]:
    """Entries recorded on this session that its next commit will append."""
    return [entry for entry, _fields, _keep in session.info.get(_PENDING, [])]


def mark(session: Session) -> int:
    """A place in the session's queue, for :func:`forget_since`."""
    return len(session.info.get(_PENDING, []))


def forget_since(session: Session, place: int) -> None:
    """Drop the entries queued since ``place`` whose writes a savepoint rollback undid.

    Entries recorded to survive a rollback (refusals, break-glass) stay queued.
    """
    queued = session.info.get(_PENDING)
    if queued:
        queued[place:] = [q for q in queued[place:] if q[2]]


def _append(session: Session, entries: list[AuditEntry]) -> None:
    """Chain the entries after the head in one step: one lock, one insert, one head update."""
    conn = session.connection()
    _take_head(conn, len(entries))
    head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)).one()
    seq, prev = head.seq - len(entries), head.hash
    for entry in entries:
        seq += 1
        entry.seq = seq
        entry.prev_hash = prev
        entry.hash = prev = chain.entry_hash(
            prev, {n: getattr(entry, n) for n in chain.HASHED_FIELDS}
        )
    # One statement for the rows (COPY on PostgreSQL), not a unit-of-work flush of the
    # objects: a bulk import appends thousands at a commit. The entries keep their values.
    insert_rows(session, _ENTRIES, [{c: getattr(entry, c) for c in _COLUMNS} for entry in entries])
    conn.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(hash=prev))


def _bump(conn: Connection, n: int) -> int:
    stmt = update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=AuditHead.seq + n)
    return conn.execute(stmt).rowcount


def _take_head(conn: Connection, n: int = 1) -> None:
    """Advance the head by ``n`` (the append lock), creating it on first use."""
    if _bump(conn, n) == 1:
        return
    last = conn.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    start = (last.seq, last.hash) if last else (0, GENESIS_HASH)
    try:
        with conn.begin_nested():
            conn.execute(insert(AuditHead).values(id=HEAD_ID, seq=start[0], hash=start[1]))
    except IntegrityError:
        pass  # another transaction created it first; its row is what we lock next
    if _bump(conn, n) != 1:
        raise RuntimeError("audit head could not be created")


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint is released; the entries wait for the real commit
    queued = session.info.pop(_PENDING, None)
    if not queued:
        return
    # Everything else first, so the head lock is the last lock this transaction takes.
    session.flush()
    _append(session, [entry for entry, _fields, _keep in queued])
    session.info.setdefault(_KEPT, []).extend(fields for _entry, fields, keep in queued if keep)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_KEPT, None)


@event.listens_for(Session, "after_transaction_end")
def _keep_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    kept: list[dict[str, Any]] = session.info.pop(_KEPT, None) or []
    kept += [fields for _entry, fields, keep in session.info.pop(_PENDING, None) or [] if keep]
    if not kept:
        return
    # The caller's transaction has ended and released its locks: a second connection is safe.
    try:
        bind = session.get_bind()
        engine = bind.engine if isinstance(bind, Connection) else bind
        with Session(bind=engine) as own:
            for fields in kept:
                own.info.setdefault(_PENDING, []).append((AuditEntry(**fields), fields, False))
            own.commit()
    except Exception:
        log.exception("could not keep %d audit entries after a rollback", len(kept))


def verify(session: Session, *, chunk: int = VERIFY_CHUNK) -> VerifyResult:
    """Walk the chain in ``seq`` order, ``chunk`` rows at a time, and report the first break."""
    found = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)
    ).first()
    head = (found.seq, found.hash) if found else None
    columns: list[Any] = [
        AuditEntry.__table__.c[name] for name in (*chain.HASHED_FIELDS, "prev_hash", "hash")
    ]
    expected, prev, checked = 1, GENESIS_HASH, 0
    while True:
        stmt = select(*columns).where(AuditEntry.seq >= expected).order_by(AuditEntry.seq)
        if head is not None:
            stmt = stmt.where(AuditEntry.seq <= head[0])
        rows = session.execute(stmt.limit(chunk)).all()
        for row in rows:
            broken = _check(row, expected, prev)
            if broken:
                return VerifyResult(False, checked, expected, broken)
            prev, expected, checked = row.hash, expected + 1, checked + 1
        if len(rows) < chunk:
            break
    return _check_end(session, head, checked, prev)


def _check(row: Row[Any], expected: int, prev: str) -> str | None:
    """Why this row breaks the chain, or None."""
    if row.seq != expected:
        return f"entry #{expected} is missing"
    if row.prev_hash != prev:
        return f"entry #{row.seq} does not link to the entry before it (prev_hash mismatch)"
    if chain.entry_hash(row.prev_hash, row._asdict()) != row.hash:
        return f"entry #{row.seq} was altered (hash mismatch)"
    return None


def _check_end(
    session: Session, head: tuple[int, str] | None, checked: int, last_hash: str
) -> VerifyResult:
    """Check the chain's end against its head: nothing cut off, nothing added past it."""
    if head is None:
        if checked:
            return VerifyResult(False, checked, checked, "the chain head is missing")
        return VerifyResult(True, 0)
    head_seq, head_hash = head
    if head_seq > checked:
        return VerifyResult(
            False,
            checked,
            checked + 1,
            f"the chain ends at entry #{checked} but its head records #{head_seq} "
            "(entries removed from the end)",
        )
    if head_hash != last_hash:
        return VerifyResult(
            False, checked, checked, f"entry #{checked} does not match the chain head"
        )
    # Rows past the head that the head still does not cover once re-read were never appended.
    highest = session.execute(select(func.max(AuditEntry.seq))).scalar() or 0
    head_now = session.execute(select(AuditHead.seq).where(AuditHead.id == HEAD_ID)).scalar() or 0
    if highest > head_now:
        return VerifyResult(
            False, checked, head_now + 1, f"entry #{head_now + 1} lies beyond the chain head"
        )
    return VerifyResult(True, checked)


# Queries.


def _page(
    session: Session, stmt: Select[Any], limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    items = session.execute(
        stmt.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)
    ).scalars()
    return list(items), total


def person_access(
    session: Session, person_id: str, *, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """Entries touching one person's data, newest first, with the total count."""
    return _page(
        session, select(AuditEntry).where(AuditEntry.person_id == person_id), limit, offset
    )


def search(
    session: Session,
    *,
    actor_id: str | None = None,
    person_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    offset: int,
) -> tuple[list[AuditEntry], int]:
    """Entries matching every given filter, newest first, with the total count."""
    stmt = select(AuditEntry)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if person_id:
        stmt = stmt.where(AuditEntry.person_id == person_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    return _page(session, stmt, limit, offset)
