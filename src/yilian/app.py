"""FastAPI application factory."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from yilian import __version__
from yilian.config import Settings, get_settings, resolve_keys
from yilian.db import make_engine, make_sessionmaker
from yilian.kit.errors import install_error_handlers, operation_outcome
from yilian.models import load_all

log = logging.getLogger("yilian")

# Each domain exposes ``router`` in the module named here; order decides route precedence.
ROUTER_MODULES = [
    "yilian.security.endpoints",
    "yilian.audit.endpoints",
    "yilian.registry.endpoints",
    "yilian.registry.fhir_endpoints",
    "yilian.patients.endpoints",  # before records: POST /fhir/Patient/$match is more specific
    "yilian.records.endpoints",
    "yilian.web.pages",
    "yilian.web.record",
    "yilian.web.mpi",
    "yilian.recognition.endpoints",
    "yilian.recognition.pages",
    "yilian.referral.endpoints",
    "yilian.referral.pages",
    "yilian.consult.endpoints",
    "yilian.consult.pages",
    "yilian.familydoctor.endpoints",
    "yilian.familydoctor.pages",
    "yilian.chronic.endpoints",
    "yilian.chronic.pages",
    "yilian.surveillance.endpoints",
    "yilian.surveillance.pages",
    "yilian.tb.endpoints",
    "yilian.tb.pages",
    "yilian.tb.care_endpoints",
    "yilian.tb.care_pages",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodySizeLimit:
    """Refuse request bodies over the configured size with 413, before the handler sees them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        import orjson

        msg = f"request body exceeds the limit of {self.max_bytes} bytes"
        path: str = scope.get("path", "")
        if path == "/fhir" or path.startswith("/fhir/"):
            body = orjson.dumps(operation_outcome(413, msg, []))
            ctype = b"application/fhir+json"
        else:
            body = orjson.dumps({"error": msg, "detail": []})
            ctype = b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(StarletteHTTPException):
    # An HTTPException, so that FastAPI re-raises it from body parsing instead of a 400.
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {max_bytes} bytes")


def _include_routers(app: FastAPI) -> None:
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app: one engine, the domain routers, error handlers, static assets."""
    settings = resolve_keys(settings or get_settings())
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        engine.dispose()

    app = FastAPI(
        title="yilian 医联",
        version=__version__,
        description="Regional health-integration platform — 区域医联体一体化数智基座",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    install_error_handlers(app)
    load_all()  # every domain's tables and projectors, also those no router imports
    _include_routers(app)
    static = Path(__file__).parent / "web" / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.get("/health", tags=["meta"], summary="Liveness and database check")
    def health() -> dict[str, str]:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": __version__}

    return app
