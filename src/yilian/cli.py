"""The ``yilian`` command line: serve, migrate, manage users, verify the audit chain, demo."""

from __future__ import annotations

import importlib

import typer

from yilian.config import get_settings

app = typer.Typer(no_args_is_help=True, help="yilian 医联 — regional health-integration platform")
db_app = typer.Typer(no_args_is_help=True, help="Database schema")
app.add_typer(db_app, name="db")

# Domains add their own command groups: module path → the Typer attribute it exposes.
COMMAND_MODULES = {
    "yilian.security.commands": "user",
    "yilian.audit.commands": "audit",
    "yilian.synth.commands": "synth",
    "yilian.patients.commands": "link",
    "yilian.records.commands": "fhir",
    "yilian.recognition.commands": "recognition",
    "yilian.familydoctor.commands": "reminders",
    "yilian.surveillance.commands": "surveil",
    "yilian.tb.commands": "tb",
}


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit non-zero: no stack trace reaches the user."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the schema migrations to YILIAN_DATABASE_URL."""
    from yilian.migrate import upgrade

    url = get_settings().database_url
    try:
        upgrade(url, revision)
    except Exception as exc:
        fail(f"migration failed: {str(exc).splitlines()[0]}")
    typer.echo(f"database at {_safe_url(url)} is at revision {revision}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port"),
    workers: int = typer.Option(1, help="worker processes"),
) -> None:
    """Serve the web UI and API."""
    import uvicorn

    uvicorn.run(
        "yilian.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@app.command()
def demo(
    residents: int = typer.Option(20_000, "--residents", "-n", help="synthetic residents"),
    days: int = typer.Option(30, "--days", help="days of history"),
    seed: int = typer.Option(20_240_101, "--seed", help="same seed, same region"),
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="serve when seeded"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port"),
) -> None:
    """Seed the embedded database with a synthetic district (first run only) and serve it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from yilian import demo as demo_flow
    from yilian.db import make_engine, make_sessionmaker
    from yilian.migrate import upgrade

    settings = get_settings()
    console = Console(stderr=True)
    try:
        upgrade(settings.database_url)
    except Exception as exc:
        fail(f"migration failed: {str(exc).splitlines()[0]}")
    engine = make_engine(settings.database_url)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("生成合成人口 residents", total=residents)

            def progress(phase: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=phase)

            result = demo_flow.seed(
                make_sessionmaker(engine),
                settings.var_dir / "demo",
                residents=residents,
                days=days,
                seed_value=seed,
                progress=progress,
            )
    except Exception as exc:
        fail(f"demo seeding failed: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    if result.generated:
        console.print(
            f"seeded {result.organizations} organisations; ingested {result.ingested} of "
            f"{result.resources} resources from {result.bundles} FHIR bundles "
            f"({result.bundle_dir})"
        )
        for reason, count in sorted(result.refused.items()):
            console.print(f"  {count} bundles refused: {reason}")
        for line in result.domains:
            console.print(f"  {line}")
        console.print(
            f"demo accounts {', '.join(result.accounts)} — password {demo_flow.DEMO_PASSWORD}"
        )
    else:
        console.print(f"database already seeded ({result.organizations} organisations)")
    if serve_after:
        console.print(f"serving on http://{host}:{port}  (API docs: /docs)")
        serve(host=host, port=port, workers=1)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _add_domain_commands() -> None:
    for module_name, attr in COMMAND_MODULES.items():
        module = importlib.import_module(module_name)
        sub = getattr(module, attr)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=attr)
        else:
            app.command(name=attr)(sub)


_add_domain_commands()


if __name__ == "__main__":
    app()
