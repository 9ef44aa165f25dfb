"""Every SQLite connection is set up the same way: WAL, foreign keys, a larger page cache."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from yilian.db import SQLITE_CACHE_MIB, make_engine


def test_each_connection_gets_the_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with engine.connect() as a, engine.connect() as b:  # two pooled connections
            for conn in (a, b):
                pragma = conn.execute(text("PRAGMA cache_size")).scalar()
                assert pragma == -SQLITE_CACHE_MIB * 1024  # negative: KiB, not pages
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
                assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    finally:
        engine.dispose()
