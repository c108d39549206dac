"""The OpenAPI document: the one error model, the error statuses each route declares, and JSON
request bodies as component schemas (so every `$ref` resolves from the document root)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from oms_api.api.body import JsonBody
from oms_api.api.middleware import MAX_BODY_BYTES
from oms_api.api.schemas import ErrorResponse

REF_PREFIX = "#/components/schemas/"

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Refused by a rule (symbol, quantity, price, portfolio, cursor...); "
    "nothing was written or sent.",
    401: "Missing or invalid bearer token.",
    402: "Not enough money: the portfolio's free capital (`portfolio_capital_exceeded`, "
    "nothing written or sent), or the broker's buying power.",
    403: "A portfolio limit refused the order (symbol not allowed or denied, order or "
    "position too large); nothing was written or sent.",
    404: "No such trade or portfolio.",
    409: "Conflict with the current state: a paused portfolio, an Idempotency-Key used for "
    "another trade, a portfolio that exists, or a trade that can no longer be canceled.",
    413: f"The request body is larger than {MAX_BODY_BYTES} bytes.",
    415: "The request body is not JSON (send `Content-Type: application/json`).",
    422: "Malformed request: a field, parameter or header is missing, of the wrong type, out "
    "of range or unknown. `details.problems` lists each.",
    502: "The broker refused the request.",
    503: "The broker or the database is unavailable; the message says whether anything was sent.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each status answered with the one error shape.

    Declaring 422 here also stops FastAPI from adding its own `{"detail"}` 422."""
    return {
        status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


def install_openapi(app: FastAPI) -> None:
    """Finish FastAPI's document: JSON bodies read by `JsonBody` become request bodies that
    refer to component schemas, and FastAPI's `{"detail"}` validation error model, which this
    API never sends, is replaced by `ErrorResponse`."""
    generate = app.openapi  # FastAPI's own; it caches the document it builds
    finished: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        document = generate()
        if not finished or finished[0] is not document:
            _add_json_bodies(app, document)
            _replace_fastapi_validation_error(document)
            finished[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _add_json_bodies(app: FastAPI, document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None or not getattr(route, "include_in_schema", False):
            continue
        models = [d.call.model for d in dependant.dependencies if isinstance(d.call, JsonBody)]
        if not models:
            continue
        [model] = models  # one body per route
        _add_schema(schemas, model)
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"{REF_PREFIX}{model.__name__}"}}
                },
            }


def _add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template=REF_PREFIX + "{model}")
    for name, definition in [*schema.pop("$defs", {}).items(), (model.__name__, schema)]:
        existing = schemas.setdefault(name, definition)
        if existing != definition:
            raise RuntimeError(f"two different schemas are named {name!r} in the API document")


def _replace_fastapi_validation_error(document: dict[str, Any]) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    fastapi_error = f"{REF_PREFIX}HTTPValidationError"
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                for media in response.get("content", {}).values():
                    if media.get("schema", {}).get("$ref") == fastapi_error:
                        media["schema"] = {"$ref": f"{REF_PREFIX}{ErrorResponse.__name__}"}
                        response["description"] = ERROR_DESCRIPTIONS[422]
                        _add_schema(schemas, ErrorResponse)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
