"""The reminder job: owns its transactions (one commit per batch), so a killed run continues.

Each batch's reminders and the run's cursor commit together: after a crash the next
run starts after the last committed person, and the unique (person, kind, due date)
key makes any overlap harmless. A finished day is not scanned again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from yilian.db import session_scope, utcnow
from yilian.familydoctor import repository as repo
from yilian.familydoctor import worklists
from yilian.familydoctor.config import get_familydoctor_settings
from yilian.familydoctor.models import Contract, ReminderRun


@dataclass
class RunResult:
    run_date: date
    created: int = 0
    total_created: int = 0
    batches: int = 0
    already_done: bool = False


def _start(session: Session, on: date) -> ReminderRun:
    run = repo.reminder_run(session, on)
    if run is None:
        run = ReminderRun(run_date=on, status="running", cursor="", created=0)
        session.add(run)
        session.flush([run])
    return run


def run_reminders(
    factory: sessionmaker[Session],
    on: date,
    *,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_batches: int | None = None,
) -> RunResult:
    """Generate the reminders of day ``on`` batch by batch; ``max_batches`` stops early (tests)."""
    size = batch_size or get_familydoctor_settings().reminder_batch_size
    result = RunResult(on)
    try:
        with session_scope(factory) as session:
            _start(session, on)
    except IntegrityError:
        pass  # another worker started the same day at the same moment: continue with its row
    with session_scope(factory) as session:
        run = repo.reminder_run(session, on)
        assert run is not None
        if run.status == "done":
            result.already_done = True
            result.total_created = run.created
            return result
        total = (
            session.scalar(
                select(func.count(func.distinct(Contract.person_id))).where(repo.current_on(on))
            )
            or 0
        )
        done = (
            session.scalar(
                select(func.count(func.distinct(Contract.person_id))).where(
                    repo.current_on(on), Contract.person_id <= run.cursor
                )
            )
            if run.cursor
            else 0
        )
    while True:
        with session_scope(factory) as session:
            run = repo.reminder_run(session, on)
            assert run is not None
            created, last = worklists.reminder_batch(
                session, on=on, after_person_id=run.cursor, limit=size
            )
            if last is None:
                run.status = "done"
                run.finished_at = utcnow()
                result.total_created = run.created
                return result
            run.cursor = last
            run.created += created
            result.created += created
            result.batches += 1
            done = min(total, (done or 0) + size)
        if progress:
            progress(done, total)
        if max_batches is not None and result.batches >= max_batches:
            return result
