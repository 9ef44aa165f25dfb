"""``yilian user``: create and list sign-in accounts from the command line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, session_scope
from yilian.kit.errors import YilianError
from yilian.security import repository, service
from yilian.security.principal import Role

user = typer.Typer(no_args_is_help=True, help="Sign-in accounts (用户)")


def _fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit; no stack trace reaches the operator."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def _session() -> Iterator[Session]:
    engine = make_engine(get_settings().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            yield session
    except YilianError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]} (has `yilian db upgrade` run?)")
    finally:
        engine.dispose()


def _password(given: str | None) -> str:
    if given:
        return given
    from_env = os.environ.get("YILIAN_PASSWORD")
    if from_env:
        return from_env
    entered: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return entered


@user.command("create")
def create(
    username: str = typer.Argument(..., help="sign-in name"),
    role: Role = typer.Option(..., "--role", help="role of the account"),
    org: str | None = typer.Option(None, "--org", help="organisation code or id"),
    display_name: str = typer.Option("", "--display-name", help="name shown in the UI"),
    password: str | None = typer.Option(
        None, "--password", help="password (else $YILIAN_PASSWORD, else a hidden prompt)"
    ),
) -> None:
    """Create a sign-in account."""
    secret = _password(password)
    with _session() as session:
        organization_id = None
        if org:
            organization_id = repository.resolve_organization(session, org)
            if organization_id is None:
                _fail(f"no organization with code or id {org}")
        created = service.create_user(
            session,
            None,
            username=username,
            password=secret,
            role=role,
            organization_id=organization_id,
            display_name=display_name,
        )
        summary = f"created user {created.username} ({created.role}"
        summary += f", organization {organization_id})" if organization_id else ")"
    typer.echo(summary)


@user.command("list")
def list_(
    role: Role | None = typer.Option(None, "--role", help="only this role"),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000, help="rows to show"),
) -> None:
    """List sign-in accounts."""
    with _session() as session:
        users, total = service.list_users(session, role=role, limit=limit, offset=0)
        lines = [
            f"{u.username}\t{u.role}\t{u.organization_id or '-'}\t"
            f"{'active' if u.is_active else 'inactive'}\t{u.display_name}"
            for u in users
        ]
    for line in lines:
        typer.echo(line)
    typer.echo(f"{len(lines)} of {total} users")


@user.command("unlock")
def unlock(username: str = typer.Argument(..., help="sign-in name")) -> None:
    """Clear an account's failed sign-ins and lock."""
    with _session() as session:
        found = repository.user_by_username(session, service.normalise_username(username))
        if found is None:
            _fail(f"no user named {username}")
        service.update_user(session, None, found.id, {"unlock": True})
    typer.echo(f"unlocked {username}")
