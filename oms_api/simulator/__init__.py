"""An Alpaca simulator: Trading API v2, Market Data latest endpoints and the trade_updates
stream, faithful enough that the unmodified alpaca-py client works against it."""

from oms_api.simulator.app import Simulator, create_app
from oms_api.simulator.clock import ManualClock, MarketMode, WallClock
from oms_api.simulator.control import SimulatorControl
from oms_api.simulator.engine import Broker, BrokerConfig
from oms_api.simulator.server import (
    DEFAULT_KEY_ID,
    DEFAULT_SECRET_KEY,
    SimulatorOptions,
    SimulatorServer,
)

__all__ = [
    "DEFAULT_KEY_ID",
    "DEFAULT_SECRET_KEY",
    "Broker",
    "BrokerConfig",
    "ManualClock",
    "MarketMode",
    "Simulator",
    "SimulatorControl",
    "SimulatorOptions",
    "SimulatorServer",
    "WallClock",
    "create_app",
]
