"""Domain errors. Each class is one HTTP status; each instance names the rule that refused.

The JSON body is always ``{"error": code, "message": text, "details": ...}`` so a client can
branch on ``error`` and show ``message`` to a person.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from routeboard.db import is_outage, sqlstate
from routeboard.metrics.service import denied

log = logging.getLogger(__name__)
# How long a client is asked to wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Hidden(NotFound):
    """Not found *for this caller*: the row may exist but is not theirs. Logged as a denial."""


class Conflict(DomainError):
    """A rule refused the change; ``code`` is the rule's stable name."""

    status_code = 409
    code = "conflict"


class TooMany(DomainError):
    status_code = 429
    code = "too_many_requests"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class ErrorBody(BaseModel):
    """Every refusal: branch on ``error``, show ``message``."""

    error: str
    message: str
    details: Any = None


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Declared on every API route, so the schema names each status a client can get.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("The body could not be parsed"),
    401: _error("Not signed in, or the token is invalid or revoked"),
    403: _error("The caller may not do this"),
    404: _error("No such resource, or not visible to the caller"),
    409: _error("A rule refused the change; ``error`` names the rule"),
    413: _error("The body is too large"),
    422: _error("Invalid input; ``details`` lists the fields"),
    503: _error("The database is not answering; try again after ``Retry-After`` seconds"),
}


def _body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": code, "message": message, "details": details}


def install_handlers(app: FastAPI) -> None:
    async def domain(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        if exc.status_code in (401, 403) or isinstance(exc, Hidden):
            actor = getattr(request.state, "actor", None)
            denied(
                exc.status_code,
                exc.code,
                method=request.method,
                # The route template, never the raw path: a tracking link's path is its secret.
                path=getattr(request.scope.get("route"), "path", "?"),
                actor=getattr(actor, "username", "anonymous"),
                client=request.client.host if request.client else "-",
            )
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(
            _body(exc.code, exc.message, exc.details), exc.status_code, headers=headers
        )

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"][1:]) or "request"
        return JSONResponse(_body("invalid_input", f"{where}: {first['msg']}", details), 422)

    async def http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {
            401: "not_authenticated",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
            422: "invalid_input",
        }.get(exc.status_code, "http_error")
        return JSONResponse(
            _body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None)
        )

    async def database(_: Request, exc: Exception) -> JSONResponse:
        if is_outage(exc):
            log.warning("database unavailable: %s", type(exc).__name__)
            return JSONResponse(
                _body("database_unavailable", "the database is not answering; try again shortly"),
                503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if isinstance(exc, DataError) or sqlstate(exc).startswith("22"):
            # What the database refused to store (a NUL in a text, a number out of its range:
            # SQLSTATE class 22) is the caller's input, not our failure.
            return JSONResponse(
                _body("invalid_input", "a value could not be stored: " + _first_line(exc)), 422
            )
        # This handler's answer ends the exception: log it here, or nobody sees it.
        log.error("unexpected database error", exc_info=exc)
        return _internal_error()

    async def internal(_: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback (it re-raises after this answer); the client gets the
        # documented JSON shape, without our internals.
        return _internal_error()

    app.add_exception_handler(DomainError, domain)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(DBAPIError, database)
    # Connection errors only: a full disk or a permission problem is not the database away.
    app.add_exception_handler(ConnectionError, database)
    app.add_exception_handler(Exception, internal)


def _internal_error() -> JSONResponse:
    return JSONResponse(
        _body("internal_error", "something went wrong on our side; it has been logged"), 500
    )


def _first_line(exc: Exception) -> str:
    if not isinstance(exc, DBAPIError):
        return type(exc).__name__
    return str(exc.orig).splitlines()[0][:200] if exc.orig is not None else type(exc).__name__
