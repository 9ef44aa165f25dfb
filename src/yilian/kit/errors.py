"""One error base class and the handlers that render it.

Every error reaches the client as ``{"error": message, "detail": [...]}``; on
``/fhir`` paths as a FHIR ``OperationOutcome``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("yilian")


class YilianError(Exception):
    """A failure the client can act on: a message, an HTTP status, optional field details."""

    status_code = 400
    code = "bad-request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        detail: list[dict[str, Any]] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = list(detail or [])
        if field is not None:
            self.detail.insert(0, {"field": field, "message": message})
        if status_code is not None:
            self.status_code = status_code

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable with its detail and status (errors cross from worker processes).
        return (type(self), (self.message,), dict(self.__dict__))


class BadRequest(YilianError):
    status_code = 400


class Unauthorized(YilianError):
    status_code = 401
    code = "unauthorized"


class Forbidden(YilianError):
    status_code = 403
    code = "forbidden"


class NotFound(YilianError):
    status_code = 404
    code = "not-found"


class Conflict(YilianError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(YilianError):
    status_code = 413
    code = "too-large"


class Unprocessable(YilianError):
    status_code = 422
    code = "invalid"


class TooManyRequests(YilianError):
    status_code = 429
    code = "throttled"


def error_responses(*errors: type[YilianError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the errors a route can raise."""
    return {e.status_code: {"description": e.__name__} for e in errors}


_FHIR_CODES = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    413: "too-costly",
    422: "invariant",
    429: "throttled",
}


def operation_outcome(status: int, message: str, detail: list[dict[str, Any]]) -> dict[str, Any]:
    issues = []
    for d in detail or [{"message": message}]:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": _FHIR_CODES.get(status, "processing"),
            "diagnostics": d.get("message", message),
        }
        if d.get("field"):
            issue["expression"] = [str(d["field"])]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def _is_fhir(request: Request) -> bool:
    return request.url.path == "/fhir" or request.url.path.startswith("/fhir/")


def render_error(
    request: Request, status: int, message: str, detail: list[dict[str, Any]]
) -> JSONResponse:
    if _is_fhir(request):
        return JSONResponse(
            operation_outcome(status, message, detail),
            status_code=status,
            media_type="application/fhir+json",
        )
    return JSONResponse({"error": message, "detail": detail}, status_code=status)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(YilianError)
    async def _yilian(request: Request, exc: YilianError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        resp = render_error(request, exc.status_code, exc.message, exc.detail)
        if headers:
            resp.headers.update(headers)
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = []
        status = 422
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                status = 400
                msg = f"malformed JSON: {err.get('ctx', {}).get('error', 'cannot parse body')}"
            else:
                msg = str(err.get("msg", "invalid value"))
            detail.append({"field": _field_path(err.get("loc", ())), "message": msg})
        first = detail[0] if detail else {"field": "", "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return render_error(request, status, message, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        resp = render_error(request, exc.status_code, message, [])
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schemas let through (a NUL byte in text on
        # PostgreSQL, a number out of the column's range): the client's input, so a 400.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "value out of range"
        return render_error(request, 400, f"a value could not be stored: {reason}", [])

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render_error(request, 500, "internal error; the request was not applied", [])
