"""The simulator's route surface as clients meet it: Alpaca's error shape for paths and methods
it does not serve, and the asset list `GET /v2/assets` through the real alpaca-py."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import AssetClass, AssetExchange, AssetStatus
from alpaca.trading.requests import GetAssetsRequest

from tests.conftest import Sim


@pytest.fixture
def http(sim: Sim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=sim.headers, timeout=10) as client:
        yield client


# ------------------------------------------------------------------------ routing errors
@pytest.mark.parametrize(
    "path", ["/v2/watchlists", "/v2/account/activities", "/v2/options/contracts", "/v3/nothing"]
)
def test_an_unserved_path_answers_alpacas_404(http, path):
    reply = http.get(path)

    assert reply.status_code == 404
    assert reply.json() == {"code": 40410000, "message": "endpoint not found"}


def test_alpaca_py_reads_the_404_of_an_unserved_route_as_an_api_error(sim):
    with pytest.raises(APIError) as error:
        sim.trading.get_watchlists()

    assert error.value.status_code == 404
    assert error.value.code == 40410000
    assert error.value.message == "endpoint not found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v2/account", {"GET"}),
        ("POST", "/v2/clock", {"GET"}),
        ("PUT", "/v2/orders", {"GET", "POST", "DELETE"}),
        ("POST", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d", {"GET", "PATCH", "DELETE"}),
    ],
)
def test_a_method_a_path_does_not_take_answers_alpacas_405(http, method, path, allowed):
    reply = http.request(method, path)

    assert reply.status_code == 405
    assert reply.json() == {"code": 40510000, "message": "method not allowed"}
    assert set(reply.headers["allow"].replace(" ", "").split(",")) == allowed


def test_a_missing_query_parameter_answers_alpacas_422(http):
    reply = http.get("/v2/orders:by_client_order_id")

    assert reply.status_code == 422
    assert reply.json() == {"code": 42210000, "message": "client_order_id is required"}


def test_the_control_api_keeps_its_own_error_shape(sim):
    reply = httpx.get(f"{sim.url}/_sim/no-such-control")

    assert reply.status_code == 404
    assert reply.json() == {"detail": "Not Found"}


# ------------------------------------------------------------------------ asset list
ARCA = {"SPY", "IWM", "DIA", "VTI", "GLD"}
NOT_FRACTIONABLE = {"GME", "SIRI", "TWTR"}


def test_all_assets_have_the_shape_of_a_single_asset(sim, http):
    assets = sim.trading.get_all_assets()

    symbols = [asset.symbol for asset in assets]
    assert len(symbols) == len(set(symbols)) == 35
    assert {"AAPL", "BRK.B", "SPY", "TWTR"} <= set(symbols)
    for asset in assets:
        assert asset == sim.trading.get_asset(asset.symbol)
    raw = http.get("/v2/assets").json()
    assert raw[0] == http.get(f"/v2/assets/{raw[0]['symbol']}").json()
    # Alpaca sorts the list by asset class, exchange and symbol.
    assert [(a["class"], a["exchange"], a["symbol"]) for a in raw] == sorted(
        (a["class"], a["exchange"], a["symbol"]) for a in raw
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (GetAssetsRequest(status=AssetStatus.INACTIVE), {"TWTR"}),
        (GetAssetsRequest(exchange=AssetExchange.ARCA), ARCA),
        (GetAssetsRequest(status=AssetStatus.ACTIVE, exchange=AssetExchange.ARCA), ARCA),
        (GetAssetsRequest(asset_class=AssetClass.CRYPTO), set()),
        (GetAssetsRequest(status=AssetStatus.INACTIVE, exchange=AssetExchange.NASDAQ), set()),
    ],
    ids=["inactive", "arca", "active-arca", "crypto", "inactive-nasdaq"],
)
def test_asset_list_filters_as_alpaca_does(sim, request_, expected):
    assets = sim.trading.get_all_assets(request_)

    assert {asset.symbol for asset in assets} == expected


def test_asset_list_filters_by_class_and_attributes(sim):
    every = {asset.symbol for asset in sim.trading.get_all_assets()}

    equities = sim.trading.get_all_assets(GetAssetsRequest(asset_class=AssetClass.US_EQUITY))
    fractional = sim.trading.get_all_assets(GetAssetsRequest(attributes="fractional_eh_enabled"))

    assert {asset.symbol for asset in equities} == every
    assert {asset.symbol for asset in fractional} == every - NOT_FRACTIONABLE
    assert all(asset.fractionable for asset in fractional)


def test_an_asset_added_at_runtime_is_listed(sim):
    sim.control.add_assets([{"symbol": "NEWCO", "price": "12.5", "exchange": "NYSE"}])

    listed = sim.trading.get_all_assets(GetAssetsRequest(exchange=AssetExchange.NYSE))

    assert "NEWCO" in {asset.symbol for asset in listed}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "delisted"}, "invalid status"),
        ({"asset_class": "bonds"}, "invalid asset_class"),
        ({"exchange": "MOON"}, "invalid exchange"),
        ({"attributes": "has_options,shiny"}, "invalid attributes"),
    ],
)
def test_bad_asset_filters_are_refused_with_alpacas_error(http, params, fragment):
    reply = http.get("/v2/assets", params=params)

    assert reply.status_code == 422
    body = reply.json()
    assert body["code"] == 42210000
    assert fragment in body["message"]
