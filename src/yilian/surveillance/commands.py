"""CLI of the surveillance domain: ``yilian surveil run`` and ``yilian surveil backfill``."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, session_scope
from yilian.kit.errors import YilianError
from yilian.security.principal import Principal, Role

surveil = typer.Typer(no_args_is_help=True, help="预警监测 surveillance: run the detectors")

CLI_PRINCIPAL = Principal(
    subject="cli-surveil", name="yilian surveil", role=Role.system, organization_id=None,
    kind="client",
)  # fmt: skip


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _day(value: str | None, option: str) -> date:
    from yilian.surveillance import service

    if value is None:
        return service.today() - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: {value!r} is not a date (YYYY-MM-DD)", 2)


@surveil.command("run")
def run_day(
    day: str | None = typer.Option(None, "--date", help="day to run (default: yesterday)"),
) -> None:
    """Run every detector and rule for one day; re-running the day changes nothing."""
    from yilian.models import load_all
    from yilian.surveillance import service

    d = _day(day, "--date")
    load_all()
    engine = make_engine(get_settings().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            out = service.run(session, d, principal=CLI_PRINCIPAL)
    except YilianError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]} (has `yilian db upgrade` run?)")
    finally:
        engine.dispose()
    typer.echo(
        f"{d.isoformat()}: {out.series} series, {out.alarms} alarms, "
        f"{len(out.signals)} signals ({out.new_signals} new) in {out.seconds:.2f}s"
    )


@surveil.command("backfill")
def backfill(
    start: str = typer.Option(..., "--from", help="first day (YYYY-MM-DD)"),
    end: str = typer.Option(..., "--to", help="last day (YYYY-MM-DD)"),
) -> None:
    """Run every day from --from to --to in order, one transaction per day."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from yilian.models import load_all
    from yilian.surveillance import service

    d1, d2 = _day(start, "--from"), _day(end, "--to")
    if d2 < d1:
        _fail("--to must not be before --from", 2)
    if d2 > service.today():
        _fail(f"--to {d2.isoformat()} is in the future", 2)
    load_all()
    engine = make_engine(get_settings().database_url)
    factory = make_sessionmaker(engine)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn())
    total = (d2 - d1).days + 1
    try:
        with Progress(*columns) as bar:
            task = bar.add_task("surveil backfill", total=total)
            results = service.backfill(
                lambda: session_scope(factory), d1, d2, principal=CLI_PRINCIPAL,
                progress=lambda d: bar.update(task, advance=1, description=d.isoformat()),
            )  # fmt: skip
    except YilianError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]} (has `yilian db upgrade` run?)")
    finally:
        engine.dispose()
    new = sum(r.new_signals for r in results)
    typer.echo(f"{total} days from {d1.isoformat()} to {d2.isoformat()}: {new} new signals")
