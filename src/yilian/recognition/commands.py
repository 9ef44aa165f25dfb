"""CLI of 检验检查结果互认: ``yilian recognition catalogue import|export|install-default``,
``yilian recognition reindex``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from sqlalchemy.orm import Session

from yilian.kit.errors import YilianError

recognition = typer.Typer(no_args_is_help=True, help="检验检查结果互认: catalogues and the index")
catalogue_app = typer.Typer(no_args_is_help=True, help="Recognition catalogues (互认目录)")
recognition.add_typer(catalogue_app, name="catalogue")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def _session() -> Iterator[Session]:
    from yilian.config import get_settings
    from yilian.db import make_engine, make_sessionmaker, session_scope
    from yilian.models import load_all

    load_all()
    engine = make_engine(get_settings().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            yield session
    except YilianError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()


@catalogue_app.command("import")
def import_(path: Path = typer.Argument(..., help="catalogue JSON (as exported)")) -> None:
    """Create or update a catalogue from a JSON file."""
    from yilian.recognition import service

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"cannot read {path}: {exc}")
    if not isinstance(raw, dict):
        _fail("the file must hold one catalogue object")
    with _session() as session:
        catalogue, created = service.import_catalogue(session, None, raw)
        typer.echo(f"{'created' if created else 'updated'} catalogue {catalogue.code}")


@catalogue_app.command("export")
def export(
    code: str = typer.Argument(..., help="catalogue code or id"),
    path: Path | None = typer.Argument(None, help="file to write (default: stdout)"),
) -> None:
    """Write a catalogue as JSON."""
    from yilian.recognition import service

    with _session() as session:
        data = service.export_catalogue(session, service.get_catalogue(session, code))
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if path is None:
        typer.echo(text)
    else:
        path.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {path}")


@catalogue_app.command("install-default")
def install_default(
    org: list[str] = typer.Option([], "--org", help="organisation code to include (repeatable)"),
) -> None:
    """Install the default catalogue (35 lab items, 9 imaging categories) once."""
    from yilian.recognition import service
    from yilian.registry import service as registry

    with _session() as session:
        ids = []
        for code in org:
            found = registry.get_organization_by_code(session, code)
            if found is None:
                _fail(f"no organisation with code {code}")
            ids.append(found.id)
        catalogue = service.install_default(session, None, organization_ids=ids)
        typer.echo(f"catalogue {catalogue.code} ready with {len(ids)} institution(s) added")


@recognition.command("reindex")
def reindex() -> None:
    """Rebuild the result index from every stored lab and imaging result."""
    from yilian.recognition import backfill

    with _session() as session:
        count = backfill.reindex(session)
    typer.echo(f"indexed {count} results")
