"""CLI of the tb domain: ``yilian tb catalogue import``, ``predict`` and ``demo``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, session_scope
from yilian.kit.errors import YilianError

tb = typer.Typer(
    no_args_is_help=True, help="结核病 TB: WHO catalogue and drug-resistance prediction"
)
catalogue_app = typer.Typer(no_args_is_help=True, help="the WHO catalogue of mutations")
tb.add_typer(catalogue_app, name="catalogue")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@catalogue_app.command("import")
def import_catalogue(
    paths: list[Path] = typer.Argument(..., help="directory of the WHO files, or the files"),
) -> None:
    """Import the WHO catalogue (coordinates VCF, grades, expert rules, gene locations)."""
    from yilian.models import load_all
    from yilian.tb import service

    load_all()
    engine = make_engine(get_settings().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            row, created = service.import_catalogue(session, paths)
            summary = f"{row.version} ({row.label}): {row.counts}"
    except YilianError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]} (has `yilian db upgrade` run?)")
    finally:
        engine.dispose()
    typer.echo(("imported " if created else "already imported ") + summary)


@tb.command("predict")
def predict_cmd(
    vcf_path: Path = typer.Argument(..., help="the sample's VCF on H37Rv (plain or .gz)"),
    as_json: bool = typer.Option(False, "--json", help="print the full report as JSON"),
    catalogue: list[Path] | None = typer.Option(
        None, "--catalogue", help="read the catalogue from these files instead of the database"
    ),
) -> None:
    """Predict drug resistance for one sample VCF."""
    from yilian.tb import service
    from yilian.tb.catalogue import Catalogue, CatalogueError, read_files
    from yilian.tb.config import get_tb_settings
    from yilian.tb.vcf import VcfError, decode

    try:
        text = decode(vcf_path.read_bytes())
    except OSError as exc:
        _fail(f"{vcf_path}: {exc.strerror or exc}")
    except VcfError as exc:
        _fail(f"{vcf_path}: {exc}")
    try:
        if catalogue:
            cat = Catalogue.from_files(read_files(catalogue, get_tb_settings().accepted_catalogues))
        else:
            from yilian.models import load_all

            load_all()
            engine = make_engine(get_settings().database_url)
            try:
                with session_scope(make_sessionmaker(engine)) as session:
                    cat = service.load_catalogue(session, service.active_catalogue(session))
            finally:
                engine.dispose()
        report, _ = service.predict_text(cat, text, sample_id=vcf_path.name)
    except (CatalogueError, VcfError) as exc:
        _fail(f"{vcf_path.name if isinstance(exc, VcfError) else 'catalogue'}: {exc}")
    except YilianError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]} (has `yilian db upgrade` run?)")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{report['id']}: {report['drtype']}  (catalogue {report['catalogue']['version']})")
    for d in report["drugs"]:
        if d["result"] == "S":
            continue
        why = ", ".join(
            f"{e['gene_name']} {e['change']}"
            if e.get("gene_name")
            else f"positions {e.get('range')}"
            for e in d["evidence"]
            if (e.get("who_group") or 0) <= 3
        )
        typer.echo(f"  {d['abbreviation']:4} {d['result']:15} {why}")


@tb.command("demo")
def demo_cmd() -> None:
    """Seed the demo's sequenced strains (needs an imported WHO catalogue)."""
    from yilian.models import load_all
    from yilian.tb import demo

    load_all()
    engine = make_engine(get_settings().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            line = demo.seed_demo(session)
    except YilianError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]} (has `yilian db upgrade` run?)")
    finally:
        engine.dispose()
    if "skipped" in line:
        _fail(line)
    typer.echo(line)
