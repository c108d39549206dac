"""JSON request bodies, read one way on every route that takes one: the media type must be JSON,
numbers stay exact (Decimal), duplicate keys and over-deep nesting are refused, then the model
validates. The size limit is enforced before this, by oms_api.api.middleware."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from oms_api.errors import ServiceError

ModelT = TypeVar("ModelT", bound=BaseModel)


def is_json_media_type(content_type: str) -> bool:
    """application/json or application/<anything>+json, any parameters (charset) allowed."""
    media_type = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    return kind == "application" and (
        subtype == "json" or (subtype.endswith("+json") and len(subtype) > len("+json"))
    )


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # {"qty": 2, "qty": 3} is ambiguous: refuse it rather than guess which one was meant.
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"duplicate field {key!r}")
            seen.add(key)
    return obj


def malformed_body(message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",), "msg": message, "type": "json_invalid"}])


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object with exact numbers, or a 422 saying what is wrong with it."""
    try:
        value = json.loads(
            raw or b"null", parse_float=Decimal, object_pairs_hook=_no_duplicate_keys
        )
    except RecursionError:
        raise malformed_body("body is nested too deeply") from None
    except _DuplicateKey as error:
        raise malformed_body(str(error)) from None
    except ValueError:  # also invalid UTF-8 and integers too long to convert
        raise malformed_body("body is not valid JSON") from None
    if not isinstance(value, dict):
        raise malformed_body("body must be a JSON object")
    return value


class JsonBody(Generic[ModelT]):
    """Dependency: the request's JSON body validated as `model`.

    oms_api.api.openapi documents `model` as the request body of every route that uses it."""

    required = True  # whether the OpenAPI document says the body must be sent

    def __init__(self, model: type[ModelT]) -> None:
        self.model = model

    async def __call__(self, request: Request) -> ModelT:
        content_type = request.headers.get("content-type")
        if content_type is None or not is_json_media_type(content_type):
            raise ServiceError(
                415,
                "unsupported_media_type",
                "the body must be JSON, sent with Content-Type: application/json; "
                "nothing was written or sent",
                {"content_type": content_type[:100] if content_type else None},
            )
        body = parse_json_object(await request.body())
        try:
            return self.model.model_validate(body)
        except ValidationError as error:
            raise RequestValidationError(error.errors()) from None


class OptionalJsonBody(JsonBody[ModelT]):
    """Dependency: like `JsonBody`, but a request without a body (zero bytes, whatever its
    Content-Type) is the model with its defaults: for a body that only adds optional context
    to a route that worked without one."""

    required = False

    async def __call__(self, request: Request) -> ModelT:
        if not await request.body():
            return self.model.model_validate({})
        return await super().__call__(request)
