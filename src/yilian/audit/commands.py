"""``yilian audit``: check the audit chain from the command line."""

from __future__ import annotations

import typer

from yilian.audit import service
from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, session_scope

audit = typer.Typer(no_args_is_help=True, help="Audit trail (审计日志)")


@audit.callback()
def _group() -> None:
    """Audit trail (审计日志)."""


@audit.command("verify")
def verify() -> None:
    """Check that no audit entry was altered, removed or added out of turn."""
    engine = make_engine(get_settings().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            result = service.verify(session)
    except Exception as exc:
        typer.secho(f"error: cannot read the audit chain: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if result.ok:
        typer.echo(f"audit chain intact: {result.checked} entries")
        return
    typer.echo(f"audit chain broken at entry #{result.first_broken_seq}: {result.reason}")
    raise typer.Exit(1)
