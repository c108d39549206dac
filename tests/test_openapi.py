"""The OpenAPI document (/openapi.json) is valid, self-contained, and says what the API really
answers: the one error model on every error status, 401 on every /api/v1 route, bounded ids,
and the JSON bodies as component schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from tests.oms import OMS

MAX_ID = 2**31 - 1
ERROR_REF = "#/components/schemas/ErrorResponse"
# Every error status each route can answer with (401 for a missing or wrong token aside).
DECLARED_ERRORS = {
    ("post", "/api/v1/trade"): {400, 402, 403, 409, 413, 415, 422, 503},
    ("post", "/api/v1/trades/{trade_id}/cancel"): {404, 409, 413, 415, 422, 503},
    ("get", "/api/v1/trades"): {400, 422},
    ("get", "/api/v1/trades/{trade_id}"): {404, 422, 503},
    ("get", "/api/v1/portfolios"): set(),
    ("post", "/api/v1/portfolios"): {409, 413, 415, 422, 502, 503},
    ("patch", "/api/v1/portfolios/{name}"): {404, 409, 413, 415, 422, 502, 503},
    ("get", "/api/v1/portfolios/{name}/limits"): {404, 422},
    ("put", "/api/v1/portfolios/{name}/limits"): {404, 413, 415, 422},
    ("get", "/api/v1/portfolio/{name}"): {404, 422},
    ("get", "/api/v1/account"): {502, 503},
    ("get", "/api/v1/positions"): {502, 503},
    ("get", "/api/v1/positions/by-portfolio"): {503},
    ("get", "/api/v1/pnl"): {404, 422, 502, 503},
    ("get", "/api/v1/quote/{symbol}"): {400, 422, 502, 503},
    ("get", "/api/v1/market-status"): {502, 503},
    ("get", "/api/v1/audit"): {400, 422},
    ("get", "/api/v1/alerts"): {400, 422},
    ("post", "/api/v1/audit/refusals"): {413, 415, 422},
    ("get", "/api/v1/trading-state"): {503},
    ("post", "/api/v1/halt"): {413, 415, 422, 503},
    ("post", "/api/v1/resume"): {409, 413, 415, 422, 503},
    ("post", "/api/v1/emergency-stop"): {413, 415, 422, 503},
    ("get", "/api/v1/emergency-stops/{stop_id}"): {404, 422},
    ("get", "/api/v1/emergency-stops"): {400, 422},
    ("post", "/api/v1/positions/{symbol}/close"): {400, 402, 404, 409, 413, 415, 422, 503},
    ("post", "/api/v1/portfolios/{name}/stop"): {404, 413, 415, 422, 503},
    ("get", "/api/v1/status"): {503},
    ("post", "/api/v1/sync"): {409, 413, 415, 422, 503},
    ("get", "/api/v1/sync"): {503},
    ("get", "/api/v1/history"): {400, 422, 503},
    ("get", "/api/v1/history/trades/{trade_id}"): {404, 422, 503},
    ("post", "/api/v1/reconcile"): {409, 413, 415, 422, 503},
    ("get", "/api/v1/reconcile/reports"): {400, 422},
    ("get", "/api/v1/reconcile/reports/latest"): {400, 404, 422},
    ("get", "/api/v1/reconcile/reports/{report_id}"): {400, 404, 422},
    ("post", "/api/v1/reconcile/reports/{report_id}/repair"): {404, 409, 413, 415, 422, 503},
}
BODIES = {
    ("post", "/api/v1/trade"): "TradeRequest",
    ("post", "/api/v1/portfolios"): "PortfolioCreate",
    ("patch", "/api/v1/portfolios/{name}"): "PortfolioUpdate",
    ("put", "/api/v1/portfolios/{name}/limits"): "PortfolioLimitsUpdate",
    ("post", "/api/v1/audit/refusals"): "RefusalReport",
    ("post", "/api/v1/halt"): "ControlRequest",
    ("post", "/api/v1/resume"): "ControlRequest",
    ("post", "/api/v1/emergency-stop"): "StopRequest",
    ("post", "/api/v1/positions/{symbol}/close"): "ClosePositionRequest",
    ("post", "/api/v1/portfolios/{name}/stop"): "PortfolioStopRequest",
    ("post", "/api/v1/reconcile/reports/{report_id}/repair"): "RepairRequest",
}


@pytest.fixture
def oms(oms_factory: Any) -> Iterator[OMS]:
    with oms_factory(stream_enabled=False, background=False) as running:
        yield running


@pytest.fixture
def document(oms: OMS) -> dict[str, Any]:
    response = oms.client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_every_ref_resolves_from_the_document_root(document: dict[str, Any]) -> None:
    found = list(refs(document))
    assert len(found) > 20
    for ref in found:
        resolve(document, ref)
    assert "$defs" not in str(document)


def test_every_api_route_declares_401_and_its_errors_with_the_error_model(
    document: dict[str, Any],
) -> None:
    api = {(m, p): op for m, p, op in operations(document) if p.startswith("/api/v1/")}
    assert set(api) == set(DECLARED_ERRORS)
    for key, operation in api.items():
        errors = {int(s) for s in operation["responses"] if s.startswith(("4", "5"))}
        assert errors == DECLARED_ERRORS[key] | {401}, key
        for status in errors:
            schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (key, status)


def test_fastapi_detail_error_model_is_gone(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in str(document)
    assert "ValidationError" not in document["components"]["schemas"]
    error = resolve(document, ERROR_REF)
    assert error["required"] == ["error"]
    info = resolve(document, error["properties"]["error"]["$ref"])
    assert set(info["required"]) == {"code", "message", "details"}


def test_trade_ids_are_bounded_to_the_database_integer_range(document: dict[str, Any]) -> None:
    for path in ("/api/v1/trades/{trade_id}", "/api/v1/trades/{trade_id}/cancel"):
        for operation in document["paths"][path].values():
            [param] = [p for p in operation["parameters"] if p["name"] == "trade_id"]
            assert param["schema"]["minimum"] == 1
            assert param["schema"]["maximum"] == MAX_ID


def test_json_bodies_are_component_schemas_that_refuse_unknown_fields(
    document: dict[str, Any],
) -> None:
    for (method, path), model in BODIES.items():
        body = document["paths"][path][method]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model}"
        }
        schema = document["components"]["schemas"][model]
        assert schema["additionalProperties"] is False, model
    trade = document["components"]["schemas"]["TradeRequest"]
    assert {"symbol", "side", "qty", "notional", "take_profit"} <= set(trade["properties"])
    assert {"TakeProfit", "StopLoss", "Side"} <= set(document["components"]["schemas"])


def test_query_times_say_they_are_read_as_utc_and_the_idempotency_key_is_documented(
    document: dict[str, Any],
) -> None:
    params = {p["name"]: p for p in document["paths"]["/api/v1/trades"]["get"]["parameters"]}
    for name in ("since", "until"):
        assert "without an offset it is read as UTC" in params[name]["description"]
    [key] = document["paths"]["/api/v1/trade"]["post"]["parameters"]
    assert key["name"] == "Idempotency-Key" and key["in"] == "header"
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 200)


def test_errors_the_api_sends_match_the_declared_error_model(
    oms: OMS, document: dict[str, Any]
) -> None:
    schema = {"$ref": ERROR_REF, "components": document["components"]}
    answers = [
        oms.client.get("/api/v1/trades"),  # 401
        oms.get("/trades/424242"),  # 404
        oms.get("/trades/0"),  # 422
        oms.get("/trades", params={"cursor": "x"}),  # 400
        oms.post("/portfolios", content=b"{}", headers={"Content-Type": "text/plain"}),  # 415
        oms.post("/portfolios", content=b" " * 70_000),  # 413
    ]
    assert [a.status_code for a in answers] == [401, 404, 422, 400, 415, 413]
    for answer in answers:
        jsonschema.validate(answer.json(), schema)
