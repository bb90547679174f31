"""Typed JSON errors: every failure is `{"error": {"type", "message", "code", "details"}}`.

`STATUS_BY_CODE` is the one place that says which HTTP status each error code gets:
the routes, the app's exception handlers and the ASGI middlewares (auth, body limit) all
answer through `error_response` / `error_body`, so a code always maps to one status.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import Match

from murmur.core.errors import MurmurError

__all__ = [
    "RETRY_AFTER_SECONDS",
    "STATUS_BY_CODE",
    "MurmurRoute",
    "allowed_methods",
    "error_body",
    "error_headers",
    "error_response",
    "http_error",
    "http_status",
    "validation_error",
]

_CLIENT = {
    # 401: no or wrong credentials
    "unauthorized": 401,
    # 404: the thing named does not exist
    "not_found": 404,
    "no_route": 404,
    "run_not_found": 404,
    "group_not_found": 404,
    "event_not_found": 404,
    # 405
    "method_not_allowed": 405,
    # 409: the thing exists but is in the wrong state
    "run_not_finished": 409,
    "run_finished": 409,
    "run_exists": 409,
    "run_not_owned": 409,
    "run_conflict": 409,
    "not_resumable": 409,
    # 410: it existed, but is too far behind to serve
    "resume_too_old": 410,
    # 413
    "payload_too_large": 413,
    # 422: the request is well-formed HTTP but its content is not acceptable
    "invalid_request": 422,
    "input_invalid": 422,
    "invalid_options": 422,
    "invalid_range": 422,
    "invalid_budget": 422,
    "invalid_spec": 422,
    "invalid_topology": 422,
    "unknown_field": 422,
    "unknown_node": 422,
    "malformed": 422,
    "not_json": 422,
    "not_serializable": 422,
    "unknown_model": 422,
    # 429: too much at once; retry later
    "too_many_runs": 429,
    "too_many_auth_failures": 429,
}
_SERVER = {
    # 500: a fault of this server's set-up or code (the log has details)
    "internal": 500,
    "configuration": 500,
    "factory_failed": 500,
    "load_failed": 500,
    "no_store": 500,
    "provider_missing": 500,
    "provider_config": 500,
    "invalid_url": 500,
    "token_required": 500,
    "token_invalid": 500,
    "token_too_short": 500,
    # 503: a service the server depends on (store, broker, shared limits) is failing
    "not_ready": 503,
    "store_error": 503,
    "store_busy": 503,
    "store_locked": 503,
    "store_unavailable": 503,
    "store_closed": 503,
    "store_corrupt": 503,
    "store_foreign": 503,
    "store_schema_newer": 503,
    "broker_error": 503,
    "broker_unavailable": 503,
    "budget_unavailable": 503,
    "limiter_unavailable": 503,
    "connection_error": 503,
    # 504: a dependency did not answer in time
    "store_timeout": 504,
    "limiter_timeout": 504,
    "http_timeout": 504,
}
STATUS_BY_CODE: Mapping[str, int] = {**_CLIENT, **_SERVER}
"""The HTTP status of each error code the API answers with."""

RETRY_AFTER_SECONDS: Mapping[str, int] = {
    "too_many_runs": 1,
    "store_busy": 1,
    "store_locked": 1,
    "store_timeout": 1,
    "store_unavailable": 2,
    "broker_unavailable": 2,
    "budget_unavailable": 2,
    "limiter_unavailable": 2,
    "limiter_timeout": 1,
    "not_ready": 2,
}
"""Codes worth retrying, with the `Retry-After` (seconds) their responses carry."""

_FAMILIES = (("store_", 503), ("broker_", 503), ("invalid_", 422))


def http_status(error: MurmurError) -> int:
    """The HTTP status for a `MurmurError`, by its code.

    A code not in `STATUS_BY_CODE` is classed by its family (`store_*` and `broker_*`:
    503, `invalid_*`: 422, `http_<status>`: that status) and otherwise is 500: an error
    the server cannot explain is never blamed on the client.
    """
    code = error.code
    if code in STATUS_BY_CODE:
        return STATUS_BY_CODE[code]
    for prefix, status in _FAMILIES:
        if code.startswith(prefix):
            return status
    if code.startswith("http_") and code[5:].isdigit() and 400 <= int(code[5:]) <= 599:
        return int(code[5:])
    return 500


def error_headers(error: MurmurError, status: int) -> dict[str, str]:
    """The headers an error response carries: `WWW-Authenticate`, `Retry-After`, `Allow`."""
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry = error.details.get("retry_after", RETRY_AFTER_SECONDS.get(error.code))
    if isinstance(retry, int | float) and not isinstance(retry, bool) and retry >= 0:
        headers["Retry-After"] = str(math.ceil(retry))
    allow = error.details.get("allow")
    if status == 405 and isinstance(allow, list):
        headers["Allow"] = ", ".join(str(m) for m in allow)
    return headers


def _clean(value: Any) -> Any:
    """`value` with lone surrogates replaced and non-finite floats as null (valid JSON)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def error_body(error: MurmurError) -> bytes:
    """The JSON body of an error response (always encodable, whatever the error holds)."""
    content = {"error": _clean(error.to_dict())}
    return json.dumps(content, ensure_ascii=False, allow_nan=False, default=repr).encode()


def error_response(error: MurmurError, status: int | None = None) -> Response:
    """The JSON response for a `MurmurError` (status from `http_status` unless given)."""
    status = status or http_status(error)
    return Response(
        error_body(error),
        status_code=status,
        media_type="application/json",
        headers=error_headers(error, status),
    )


def validation_error(exc: RequestValidationError) -> MurmurError:
    """A `RequestValidationError` as a typed error naming each bad field."""
    errors: list[dict[str, Any]] = [
        {
            "loc": [str(p)[:200] for p in e.get("loc", ())],
            "msg": str(e.get("msg", ""))[:500],
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()[:20]
    ]
    summary = "; ".join(f"{'.'.join(e['loc']) or 'request'}: {e['msg']}" for e in errors[:10])
    error = MurmurError(f"invalid request: {summary}", code="invalid_request")
    error.details["errors"] = errors
    return error


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app fully matches on the request's path."""
    router = getattr(request.app, "router", None)
    routes = getattr(router, "routes", ())
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


def http_error(exc: HTTPException, request: Request) -> MurmurError:
    """A Starlette `HTTPException` (no route, wrong method, unparsable body) as a typed error."""
    method, path = request.method, request.url.path
    if exc.status_code == 404:
        return MurmurError(f"no route {method} {path}; see /docs for the API", code="no_route")
    if exc.status_code == 405:
        allow = allowed_methods(request) or [
            m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()
        ]
        return MurmurError(
            f"{method} is not allowed on {path}; allowed: {', '.join(allow) or 'none'}",
            code="method_not_allowed",
            details={"allow": allow},
        )
    if exc.status_code == 400:  # e.g. a body that is not UTF-8 / not JSON
        return MurmurError(f"invalid request: {exc.detail}", code="invalid_request")
    return MurmurError(str(exc.detail), code=f"http_{exc.status_code}")


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
                return error_response(validation_error(exc))
            except HTTPException as exc:
                return error_response(http_error(exc, request))

        return guarded
