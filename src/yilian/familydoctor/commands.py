"""``yilian reminders``: the scheduled job that turns worklists into reminders for gateways."""

from __future__ import annotations

from datetime import date

import typer

reminders = typer.Typer(no_args_is_help=True, help="家庭医生提醒 — family-doctor reminders")


@reminders.command("run")
def run(
    day: str = typer.Option(None, "--date", help="the day to generate for (YYYY-MM-DD); today"),
    batch: int = typer.Option(0, "--batch", help="persons per committed batch (0: configured)"),
) -> None:
    """Generate the day's reminders from the worklists: idempotent and restart-safe."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from yilian.config import get_settings
    from yilian.db import make_engine, make_sessionmaker
    from yilian.familydoctor import tasks
    from yilian.familydoctor.service import today
    from yilian.models import load_all

    try:
        on = date.fromisoformat(day) if day else today()
    except ValueError:
        typer.secho(f"error: --date must be YYYY-MM-DD, not {day!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    load_all()
    engine = make_engine(get_settings().database_url)
    console = Console(stderr=True)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(f"提醒 {on.isoformat()}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = tasks.run_reminders(
                make_sessionmaker(engine), on, batch_size=batch or None, progress=progress
            )
    finally:
        engine.dispose()
    state = "already complete" if result.already_done else "complete"
    console.print(
        f"reminders for {on.isoformat()}: {state}; {result.created} created in this run, "
        f"{result.total_created} in all, {result.batches} batches"
    )
