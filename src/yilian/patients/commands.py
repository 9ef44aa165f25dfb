"""``yilian link``: re-link the whole master patient index in one batch (批量主索引)."""

from __future__ import annotations

from typing import NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, session_scope
from yilian.kit.errors import YilianError
from yilian.patients import rules, service
from yilian.records.service import patient_records


def _fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit; no stack trace reaches the operator."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def link(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="report what would change, change nothing"
    ),
    link_threshold: float | None = typer.Option(
        None,
        "--link-threshold",
        help="match probability that links automatically (default: YILIAN_MPI_LINK_THRESHOLD)",
    ),
    review_threshold: float | None = typer.Option(
        None,
        "--review-threshold",
        help="match probability that queues a review (default: YILIAN_MPI_REVIEW_THRESHOLD)",
    ),
) -> None:
    """Re-link every stored Patient record in one batch, keeping existing person ids."""
    try:
        settings = get_settings()
        thresholds = rules.Thresholds(
            link=settings.mpi_link_threshold if link_threshold is None else link_threshold,
            review=settings.mpi_review_threshold if review_threshold is None else review_threshold,
        )
    except ValueError as exc:
        _fail(str(exc))
    engine = make_engine(get_settings().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            summary = service.relink(
                session, None, patient_records, thresholds=thresholds, dry_run=dry_run
            )
            if dry_run:
                session.rollback()
    except YilianError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]} (has `yilian db upgrade` run?)")
    finally:
        engine.dispose()
    typer.echo(summary.line())
