"""Typed JSON errors: every failure is `{"error": {"type", "message", "code", "details"}}`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from murmur.core.errors import MurmurError

__all__ = [
    "MurmurRoute",
    "error_response",
    "http_status",
    "validation_error",
]

_STATUS_BY_CODE = {
    "not_found": 404,
    "run_not_found": 404,
    "run_not_finished": 409,
    "run_finished": 409,
    "run_exists": 409,
    "run_not_owned": 409,
    "input_invalid": 422,
    "invalid_options": 422,
    "invalid_range": 422,
    "invalid_request": 422,
    "invalid_spec": 422,
    "invalid_topology": 422,
    "too_many_runs": 429,
    "unauthorized": 401,
    "payload_too_large": 413,
    "not_ready": 503,
    "store_timeout": 504,
}


def http_status(error: MurmurError) -> int:
    """The HTTP status for a `MurmurError`, by its code (400 when the code is not mapped)."""
    return _STATUS_BY_CODE.get(error.code, 400)


def error_response(error: MurmurError, status: int | None = None) -> JSONResponse:
    """The JSON response for a `MurmurError`."""
    status = status or http_status(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": error.to_dict()}, status_code=status, headers=headers)


def validation_error(exc: RequestValidationError) -> MurmurError:
    """A `RequestValidationError` as a typed error naming each bad field."""
    errors: list[dict[str, Any]] = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(e['loc']) or 'request'}: {e['msg']}" for e in errors[:10])
    error = MurmurError(f"invalid request: {summary}", code="invalid_request")
    error.details["errors"] = errors
    return error


class MurmurRoute(APIRoute):
    """A route whose `MurmurError`s and validation errors become typed JSON responses.

    Done per route rather than with app exception handlers so the router keeps its error
    shape when mounted on someone else's FastAPI app.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except MurmurError as exc:
                return error_response(exc)
            except RequestValidationError as exc:
                return error_response(validation_error(exc), 422)
            except HTTPException as exc:  # e.g. a body that is not UTF-8 / not JSON
                if exc.status_code == 400:
                    error = MurmurError(f"invalid request: {exc.detail}", code="invalid_request")
                    return error_response(error, 422)
                error = MurmurError(str(exc.detail), code=f"http_{exc.status_code}")
                return error_response(error, exc.status_code)

        return guarded
