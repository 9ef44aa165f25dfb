"""``yilian fhir import``: bulk import of FHIR bundles (批量导入) through ``records.intake``."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, session_scope
from yilian.records import intake
from yilian.registry import service as registry
from yilian.security.principal import Principal, institution_system

fhir = typer.Typer(
    help="The FHIR exchange: bulk import of bundles (批量导入).", no_args_is_help=True
)


@fhir.callback()
def _group() -> None:
    """The FHIR exchange: bulk import of bundles (批量导入)."""


SUFFIXES = (".json", ".ndjson", ".json.gz", ".ndjson.gz")
SHOWN_REFUSALS = 20


def _fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit; no stack trace reaches the operator."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _files(paths: list[Path]) -> list[Path]:
    """The bundle files named, folders searched (sorted), in the order given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.name.endswith(SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            _fail(f"{path}: no such file or folder")
    if not found:
        _fail(f"no bundle files ({', '.join(SUFFIXES)}) in {', '.join(map(str, paths))}")
    return found


def _bundles(path: Path) -> Iterator[tuple[str, bytes]]:
    """(label, JSON) of each bundle in a file: a .json holds one, an .ndjson one per line.

    Raises ValueError for a file that cannot be read at all.
    """
    try:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"cannot read it: {exc}") from exc
    if ".ndjson" in path.name:
        for n, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                yield f"{path}:{n}", line
    else:
        yield str(path), data


def _sender(code: str, organization_id: str) -> Principal:
    """The institution's own system, as whom its bundles are written and audited."""
    return institution_system(code, organization_id, via="import")


@fhir.command("import")
def import_(
    paths: list[Path] = typer.Argument(
        ..., help="bundle files (.json, .ndjson, gzipped) or folders"
    ),
    org: str | None = typer.Option(
        None, "--org", help="code of the institution that sent them (registry)"
    ),
    org_from_name: bool = typer.Option(
        False,
        "--org-from-name",
        help="take each file's institution from its name: <code>.<anything>.json",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=0, help="validation processes (default: one per core; 0: none)"
    ),
) -> None:
    """Import transaction or batch Bundles as the institution's system would send them.

    Each bundle is all or nothing; a refused one is listed and the others go on. The
    exit status is 1 when any bundle was refused.
    """
    if (org is None) == (not org_from_name):
        _fail("name the sending institution: --org CODE, or --org-from-name")
    files = _files(paths)
    engine = make_engine(get_settings().database_url)
    factory = make_sessionmaker(engine)
    try:
        with session_scope(factory) as session:
            codes = {org} if org else {p.name.split(".")[0] for p in files}
            orgs = {c: registry.get_organization_by_code(session, c) for c in sorted(codes)}
            senders = {c: _sender(c, o.id) for c, o in orgs.items() if o is not None}
    except SQLAlchemyError as exc:
        engine.dispose()
        _fail(f"database error: {str(exc).splitlines()[0]} (has `yilian db upgrade` run?)")
    unknown = sorted(c for c, o in orgs.items() if o is None)
    if unknown:
        engine.dispose()
        _fail(f"no institution with code {', '.join(unknown[:5])} in the registry")

    unreadable: list[str] = []

    def items() -> Iterator[intake.Item]:
        for path in files:
            sender = senders[org or path.name.split(".")[0]]
            try:
                for label, data in _bundles(path):
                    yield intake.Item(sender, data, label)
            except ValueError as exc:
                unreadable.append(f"{path}: {exc}")

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]导入 FHIR bundles"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[resources]} resources"),
        TimeElapsedColumn(),
    )
    stored = resources = 0
    refused: list[intake.ItemResult] = []
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("import", total=None, resources=0)
            for result in intake.import_bundles(factory, items(), workers=workers):
                if result.error is not None:
                    refused.append(result)
                else:
                    stored += 1
                    resources += result.resources
                bar.update(task, advance=1, resources=resources)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]} (has `yilian db upgrade` run?)")
    finally:
        engine.dispose()
    for line in unreadable[:SHOWN_REFUSALS]:
        typer.echo(f"  unreadable {line}", err=True)
    for result in refused[:SHOWN_REFUSALS]:
        assert result.error is not None
        typer.echo(f"  refused {result.label}: {result.error.message}", err=True)
    if len(refused) > SHOWN_REFUSALS:
        typer.echo(f"  … and {len(refused) - SHOWN_REFUSALS} more refused", err=True)
    typer.echo(
        f"imported {stored} bundles ({resources} resources); {len(refused)} refused"
        + (f"; {len(unreadable)} files unreadable" if unreadable else "")
    )
    if refused or unreadable:
        raise typer.Exit(1)
