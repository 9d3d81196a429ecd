"""The OpenAPI document, kept true to what the server answers.

FastAPI writes the document from the routes; three things it cannot know are added here: the 400s
of time parameters (parsed by `time_param`, not by a type), the 401/403 of the access gate (an ASGI
layer outside the app), and the SensorThings resource paths behind one catch-all route. And a 405's
`Allow` header lists the methods the document gives the path, where Starlette lists only those of the
first route that matched it (FastAPI makes one route per method).
"""

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from iotstream.api._http import json_response
from iotstream.registry.sensorthings.openapi import PREFIX as SENSORTHINGS
from iotstream.registry.sensorthings.openapi import sensorthings_paths

__all__ = ["Problem", "Responses", "Shape", "install", "problem"]

_TIME_PARAMETERS = {"from", "to", "after"}
_BAD_TIME = "A time parameter is not ISO-8601, epoch ms or epoch s, or not in the years 1 to 9999"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class Problem(BaseModel):
    """What every iotstream route answers a request it cannot take with (SensorThings and the schema
    registry keep their standards' shapes)."""

    model_config = ConfigDict(extra="allow")
    detail: str


_PROBLEM = Problem.model_json_schema()


def problem(description: str) -> dict[str, Any]:
    """A `responses` entry for an error status."""
    return {"model": Problem, "description": description}


def _error_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in document["paths"].values() for m, op in item.items() if m in _METHODS]


def _add_time_errors(document: dict[str, Any]) -> None:
    for operation in _operations(document):
        names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        if names & _TIME_PARAMETERS:
            operation["responses"].setdefault("400", _error_response(_BAD_TIME))


def _add_access_errors(document: dict[str, Any], public: set[str]) -> None:
    for path, item in document["paths"].items():
        if path in public:
            continue
        for method, operation in item.items():
            if method in _METHODS:
                responses = operation["responses"]
                responses.setdefault("401", _error_response("No credentials, or ones that are not valid"))
                responses.setdefault("403", _error_response("The credentials do not allow this"))


def _with_sensorthings(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for catch_all in [p for p in paths if p.startswith(f"{SENSORTHINGS}/{{")]:
        del paths[catch_all]
    paths.update(sensorthings_paths())


def _allowed_methods(document: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    """Each documented path as a pattern, with the `Allow` value its operations make."""
    table = []
    for path, item in document["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
        methods = sorted(m.upper() for m in item if m in _METHODS)
        table.append((re.compile(f"^{pattern}$"), ", ".join(methods)))
    return table


Responses = dict[int | str, dict[str, Any]]  # what a route's `responses=` takes
Shape = Callable[[int, str, dict[str, str]], Response]  # status, message, headers → an error answer


def install(app: FastAPI, *, gated: bool, public: set[str], shapes: dict[str, Shape]) -> None:
    """Completes `app`'s OpenAPI document. HTTP errors raised outside the routes (no route matches,
    a method no route takes) are answered in the shape of the API whose path prefix they are under
    (`shapes`), and a 405 carries the documented `Allow` header."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM
            _add_time_errors(document)
            _with_sensorthings(document)
            if gated:
                _add_access_errors(document, public)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to change the document
    app.add_exception_handler(HTTPException, _http_errors(openapi, shapes))
    app.add_exception_handler(RequestValidationError, _validation_errors(shapes))


def _shape_for(path: str, shapes: dict[str, Shape]) -> Shape | None:
    return next((shape for prefix, shape in shapes.items() if path.startswith(prefix)), None)


def _validation_errors(shapes: dict[str, Shape]) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, err: Exception) -> Response:
        assert isinstance(err, RequestValidationError)  # noqa: S101 - registered for this type only
        shape = _shape_for(request.url.path, shapes)
        if shape is None:
            return await request_validation_exception_handler(request, err)
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        return shape(422, where, {})

    return handle


def _http_errors(
    openapi: Callable[[], dict[str, Any]], shapes: dict[str, Shape]
) -> Callable[[Request, Exception], Any]:
    table: list[tuple[re.Pattern[str], str]] = []

    async def handle(request: Request, err: Exception) -> Response:
        assert isinstance(err, HTTPException)  # noqa: S101 - registered for this type only
        path, headers, message = request.url.path, dict(err.headers or {}), str(err.detail)
        if err.status_code == 405:
            if not table:
                table.extend(_allowed_methods(openapi()))
            allow = next((methods for pattern, methods in table if pattern.match(path)), None)
            headers |= {"Allow": allow} if allow else {}
            message = f"{request.method} is not allowed here"
        shape = _shape_for(path, shapes)
        if shape is not None:
            return shape(err.status_code, message, headers)
        if err.status_code == 405:
            return json_response({"detail": message}, 405, headers)
        return await http_exception_handler(request, err)

    return handle
