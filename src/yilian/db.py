"""Engine, session and declarative base shared by every domain.

The request (or job) owns the transaction: :func:`session_scope` commits at the
end and rolls back on any exception; services only ``flush()``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter
from sqlalchemy.sql.sqltypes import TupleType
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime as UTC; convert an aware one to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is aware UTC on the way out, on SQLite as on PostgreSQL.

    SQLite hands back naive datetimes for ``DateTime(timezone=True)`` and PostgreSQL
    aware ones; comparing the two raises, so every table uses this type.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        # SQLite keeps the text as given; store it naive so ordering stays lexical.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


def new_id() -> str:
    """A new key: a UUIDv7 (RFC 9562) in 32 hex digits, ordered by the time it was made.

    48 bits of Unix milliseconds, then the version and 74 random bits. Keys made one
    after another sort next to each other, so an index takes them at its right edge
    instead of on a random page each (random UUIDv4 keys touched a different leaf page
    per insert): the bulk import's writer spends ~12% less CPU on a 14,000-resource
    region, and more as the store grows past the page cache.
    """
    rand = int.from_bytes(os.urandom(10))
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76  # version 7
        | (rand >> 68) << 64  # 12 random bits
        | 0b10 << 62  # the RFC 9562 variant
        | rand & ((1 << 62) - 1)  # 62 random bits
    )
    return f"{value:032x}"


T = TypeVar("T")
# Values per IN list: well below SQLite's and PostgreSQL's limits on bound parameters.
IN_LIST_SIZE = 1000


@compiles(BinaryExpression, "postgresql")
def _in_list_as_array(element: BinaryExpression[Any], compiler: Any, **kw: Any) -> str:
    """On PostgreSQL ``column IN (list)`` is sent as ``column = ANY(array)``: one parameter.

    An IN list is rendered with one parameter per value, so every length is another
    statement text: psycopg parses each anew (it caches only short statements with few
    parameters) and the server parses and plans each, never reusing a prepared plan.
    As one array the text is the same for any count — parsed once, prepared after a few
    runs. ``NOT IN`` becomes ``<> ALL``; an empty list matches nothing (``NOT IN``
    everything), as before. Row-value INs, subqueries and literal lists are left alone.
    Elsewhere (SQLite) the ordinary IN list.
    """
    right = element.right
    if (
        element.operator in (operators.in_op, operators.not_in_op)
        and isinstance(right, BindParameter)
        and right.expanding
        and not right.literal_execute
        and not isinstance(right.type, TupleType)
        and not right.type._isnull
    ):
        array = right._clone()
        array.expanding = False
        array.type = ARRAY(right.type)
        test = "= ANY" if element.operator is operators.in_op else "<> ALL"
        return f"{compiler.process(element.left, **kw)} {test} ({compiler.process(array, **kw)})"
    return str(compiler.visit_binary(element, **kw))


def chunks(items: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``: one IN list per statement."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT many rows (each with the same keys) in the session's transaction.

    On PostgreSQL through ``COPY … FROM STDIN``: one statement for all rows instead of
    one executed per row, which costs the server (sharing the cores with the writer) far
    less. Each value goes through its column type's bind processing first, as an INSERT
    would; a failure comes back as SQLAlchemy's error (``IntegrityError`` for a unique
    violation). Elsewhere, and for rows that leave out a column with a Python-side
    default, the ordinary executemany INSERT.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    names = list(rows[0])
    if dialect.name != "postgresql" or any(
        c.default is not None and c.name not in names for c in table.columns
    ):
        session.execute(insert(table), list(rows))
        return
    columns = [table.c[name] for name in names]
    prepare = dialect.identifier_preparer
    sql = (
        f"COPY {prepare.format_table(table)} "
        f"({', '.join(prepare.format_column(c) for c in columns)}) FROM STDIN"
    )
    processors = [
        (i, p)
        for i, c in enumerate(columns)
        if (p := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            # Listeners of the engine's cursor events (statement counts, tracing) see it.
            conn.dispatch.before_cursor_execute(conn, cursor, sql, None, None, True)
            with cursor.copy(sql) as copy:
                for row in rows:
                    values = [row[name] for name in names]
                    for i, process in processors:
                        values[i] = process(values[i])
                    copy.write_row(values)
            conn.dispatch.after_cursor_execute(conn, cursor, sql, None, None, True)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect
        ) from exc


def unnested(
    name: str, types: Mapping[str, Any], values: Mapping[str, Sequence[Any]] | None = None
) -> Any:
    """PostgreSQL: rows sent as one array parameter per column, as the table ``name``.

    The parameters are ``b_<column>``: given here (``values``) or at execution. Joined
    to a table, many keys or rows go in one statement whose text does not depend on
    how many there are.
    """
    arrays = [
        bindparam(f"b_{c}", None if values is None else list(values[c]), type_=ARRAY(t))
        for c, t in types.items()
    ]
    return func.unnest(*arrays).table_valued(*types).render_derived(name=name)


def update_rows(
    session: Session, table: Table, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """UPDATE the row matching each row's ``keys`` columns to its other values.

    Every row has the same columns and no two the same keys. On PostgreSQL one
    ``UPDATE … FROM unnest(arrays)``: one statement and one plan for all the rows, where
    an executemany runs the statement once per row on the server. Elsewhere the
    executemany.
    """
    if not rows:
        return
    names = list(rows[0])
    values = [n for n in names if n not in keys]
    if session.get_bind().dialect.name != "postgresql":
        stmt = (
            update(table)
            .where(*(table.c[k] == bindparam(f"u_{k}") for k in keys))
            .values({n: bindparam(f"u_{n}") for n in values})
        )
        session.execute(stmt, [{f"u_{n}": row[n] for n in names} for row in rows])
        return
    given = unnested(
        "given",
        {n: table.c[n].type for n in names},
        {n: [row[n] for row in rows] for n in names},
    )
    stmt = (
        update(table)
        .where(*(table.c[k] == given.c[k] for k in keys))
        .values({n: given.c[n] for n in values})
    )
    session.execute(stmt)


class IdMixin:
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def json_dumps(value: Any) -> str:
    """JSON columns' serializer: orjson (UTF-8 kept as is, several times faster)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits or a non-string key: the standard library
        return json.dumps(value, ensure_ascii=False)


def json_loads(text: str | bytes) -> Any:
    """JSON columns' deserializer: a stored FHIR resource decodes in ~15 µs, not ~110."""
    return orjson.loads(text)


# Page cache of each SQLite connection (SQLite's default is 2 MiB). Search tokens and
# identifier keys are hashes, so their index inserts land on pages all over the file: a
# bulk import into a store of a few hundred MB re-read pages from the OS cache for most
# of them. Interleaved 60-day imports: writer 25.1-27.2 -> 24.3-25.3 CPU-s with 64 MiB;
# 32 MiB did as well as 64 in a micro-benchmark. Filled only as pages are read.
SQLITE_CACHE_MIB = 32


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    kwargs.setdefault("json_serializer", json_dumps)
    kwargs.setdefault("json_deserializer", json_loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_MIB * 1024}")
            cur.close()

        @event.listens_for(engine, "savepoint")
        def _sqlite_savepoint(conn: Any, _name: str) -> None:
            # The driver opens a transaction only before INSERT/UPDATE/DELETE, so a
            # SAVEPOINT issued first would itself become the transaction and its RELEASE
            # would commit: a failure later in the unit of work could not undo it. Open
            # the transaction first, so the savepoint nests inside it.
            dbapi_conn = conn.connection.dbapi_connection
            if not dbapi_conn.in_transaction:
                dbapi_conn.execute("BEGIN")

        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit when the block ends, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
