from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import MarketOrderRequest


def test_market_order_fills_and_streams(sim, trade_updates):
    order = sim.trading.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    assert order.status == OrderStatus.NEW
    events = trade_updates.wait_for(lambda ev: any(e.event == "fill" for e in ev))
    assert [e.event for e in events] == ["new", "fill"]
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.FILLED
