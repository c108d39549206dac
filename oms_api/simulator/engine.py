"""The simulated brokerage: account, orders, matching, positions and trade events.

One `Broker` holds all state behind a re-entrant lock. Every public method takes the lock, does
its work, then lets the matching engine catch up with the clock (`_work`). Replies are built
before matching runs, so a market order answers `new` and its fill follows on the stream, as on
Alpaca. Trade events go to subscribers (the websocket hub) through a callback.

`Broker` is assembled from one class per responsibility, each building on the ones below it:

- `core.BrokerCore`: configuration, state, ids, trade events, market hours, reservations
- `matching.Matching`: sessions opening and closing, executions, fills, orders ending
- `intake.OrderIntake`: placing orders (validation, brackets, funds)
- `order_book.OrderBook`: listing and looking up orders, cancels, replaces
- `account.AccountBook`: the account, positions, closing positions
- `marketdata.MarketData`, `reference.ReferenceData`: prices; clock, calendar and assets
- `bars.BarsData`, `portfolio_history.PortfolioHistoryBook`: historical bars and equity
- `steering.BrokerControls`: what the /_sim control API changes
"""

from __future__ import annotations

from oms_api.simulator.account import AccountBook
from oms_api.simulator.bars import BarsData
from oms_api.simulator.core import BrokerConfig, BrokerState, TradeEventSink
from oms_api.simulator.portfolio_history import PortfolioHistoryBook
from oms_api.simulator.reference import ReferenceData
from oms_api.simulator.steering import BrokerControls

__all__ = ["Broker", "BrokerConfig", "BrokerState", "TradeEventSink"]


class Broker(AccountBook, BarsData, PortfolioHistoryBook, ReferenceData, BrokerControls):
    """One simulated Alpaca account and the market it trades in."""
