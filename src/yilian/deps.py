"""FastAPI dependencies shared by every domain's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from yilian.config import Settings


def _finish(session: Session, ok: bool) -> None:
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; commit when the handler returns, roll back if it raises.

    Async so that opening the session (which touches no connection yet) costs no thread
    hop; the commit or rollback, which does I/O, runs in the thread pool.
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_finish, session, False)
        raise
    await run_in_threadpool(_finish, session, True)


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# "function" scope: the commit happens before the response is sent, so a client that
# is told 201 (or follows a 303) finds the data, and a failing commit is its error.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
AppSettings = Annotated[Settings, Depends(get_app_settings)]


class Page:
    """``limit``/``offset`` of a list request."""

    def __init__(self, limit: int = 50, offset: int = 0) -> None:
        self.limit = limit
        self.offset = offset


async def paging(
    limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")] = 0,
) -> Page:
    # async on purpose: FastAPI runs sync dependencies in a thread hop each, and this does no I/O.
    return Page(limit, offset)


Paging = Annotated[Page, Depends(paging)]
