"""``yilian synth``: generate a synthetic region to a directory."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from yilian.synth.generate import DEFAULT_START, SynthError, generate
from yilian.synth.profile import DEFAULT_PROFILE, ProfileError


def synth(
    residents: int = typer.Option(10_000, "--residents", "-n", help="number of residents"),
    days: int = typer.Option(365, "--days", "-d", help="length of the period in days"),
    seed: int = typer.Option(1, "--seed", "-s", help="same seed, same bytes"),
    out: Path = typer.Option(Path("var/synth"), "--out", "-o", help="output directory"),
    start_date: str = typer.Option(
        DEFAULT_START.isoformat(), "--start-date", help="first day, YYYY-MM-DD"
    ),
    profile: str = typer.Option(
        DEFAULT_PROFILE, "--profile", help="profile name (changning) or path to a YAML file"
    ),
    workers: int = typer.Option(0, "--workers", help="worker processes; 0 = one per CPU"),
    gzip: bool = typer.Option(False, "--gzip", help="write bundles as .json.gz"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an earlier run in --out"),
) -> None:
    """Generate a synthetic region: FHIR transaction bundles per institution and day, plus truth."""
    console = Console(stderr=True)
    try:
        start = date.fromisoformat(start_date)
    except ValueError:
        typer.secho(f"error: --start-date {start_date!r} is not YYYY-MM-DD", fg="red", err=True)
        raise typer.Exit(2) from None
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("residents", total=residents)

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=phase)

        try:
            result = generate(
                out,
                residents=residents,
                days=days,
                seed=seed,
                start=start,
                profile=profile,
                workers=workers or None,
                compress=gzip,
                overwrite=overwrite,
                progress=progress,
            )
        except (SynthError, ProfileError) as exc:
            bar.stop()
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
    rate = result.resources / result.seconds if result.seconds else 0.0
    typer.echo(
        f"{result.resources:,} resources in {result.bundles:,} bundles to {result.out} "
        f"in {result.seconds:.1f} s ({rate:,.0f} resources/s)"
    )
