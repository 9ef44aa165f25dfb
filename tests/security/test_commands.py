"""``yilian user``: create and list accounts against the test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.fixtures.auth import insert_organization
from yilian import cli
from yilian.config import get_settings
from yilian.security import passwords
from yilian.security.models import User


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[object]:
    monkeypatch.setenv("YILIAN_DATABASE_URL", db_url)
    monkeypatch.delenv("YILIAN_PASSWORD", raising=False)
    get_settings.cache_clear()

    def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(cli.app, ["user", *args], input=stdin)
        return result.exit_code, result.output.strip()

    yield invoke
    get_settings.cache_clear()


def stored(session: Session, username: str) -> User:
    session.expire_all()
    return session.execute(select(User).where(User.username == username)).scalar_one()


def test_create_with_password_option_and_list(run, session: Session) -> None:  # type: ignore[no-untyped-def]
    code, out = run("create", "root", "--role", "admin", "--password", "a long enough secret")
    assert (code, out) == (0, "created user root (admin)")
    assert passwords.verify_secret(stored(session, "root").password_hash, "a long enough secret")
    code, out = run("list")
    assert code == 0 and "root\tadmin\t-\tactive" in out and out.endswith("1 of 1 users")


def test_create_by_org_code_with_env_password(  # type: ignore[no-untyped-def]
    run, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = insert_organization(session, code="CN-SH-TR-001")
    session.commit()
    monkeypatch.setenv("YILIAN_PASSWORD", "password from env")
    code, out = run(
        "create", "dr.tang", "--role", "doctor", "--org", "CN-SH-TR-001", "--display-name", "唐医生"
    )
    assert code == 0, out
    user = stored(session, "dr.tang")
    assert (user.organization_id, user.display_name) == (org, "唐医生")
    assert passwords.verify_secret(user.password_hash, "password from env")


def test_create_with_hidden_prompt(run, session: Session) -> None:  # type: ignore[no-untyped-def]
    code, out = run(
        "create", "cdc.li", "--role", "commission", stdin="typed secret 123\ntyped secret 123\n"
    )
    assert code == 0, out
    assert "typed secret" not in out
    assert passwords.verify_secret(stored(session, "cdc.li").password_hash, "typed secret 123")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["create", "doc", "--role", "doctor", "--password", "a long enough secret"],
            "needs an organization",
        ),
        (
            [
                "create",
                "doc",
                "--role",
                "doctor",
                "--org",
                "NOPE",
                "--password",
                "a long enough secret",
            ],
            "no organization",
        ),
        (["create", "doc", "--role", "admin", "--password", "short"], "at least 10"),
    ],
)
def test_failures_print_one_line_and_exit_non_zero(  # type: ignore[no-untyped-def]
    run, session: Session, args: list[str], message: str
) -> None:
    code, out = run(*args)
    assert code == 1
    assert out.startswith("error: ") and message in out and len(out.splitlines()) == 1


def test_duplicate_username_fails(run, session: Session) -> None:  # type: ignore[no-untyped-def]
    assert run("create", "dup", "--role", "admin", "--password", "a long enough secret")[0] == 0
    code, out = run("create", "DUP", "--role", "admin", "--password", "a long enough secret")
    assert code == 1 and out == "error: username dup is taken"
