from decimal import Decimal


def test_market_buy_fills_and_answers_with_broker_ids(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    response = oms.trade(symbol="AAPL", qty="10", reason="smoke")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "filled"
    assert Decimal(body["filled_qty"]) == 10
    assert Decimal(body["filled_avg_price"]) == Decimal("190.00")
    assert body["broker_order_id"]
    assert body["client_order_id"].startswith("bot-00000001-")
    assert body["market_open"] is True
    broker = oms.sim.trading.get_order_by_client_id(body["client_order_id"])
    assert str(broker.id) == body["broker_order_id"]
