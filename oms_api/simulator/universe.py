"""The simulator's built-in asset universe: common US equities and ETFs."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

# Equity symbols as Alpaca lists them: letters, optionally a class suffix (BRK.B).
EQUITY_SYMBOL = re.compile(r"^[A-Z]{1,5}(\.[A-Z]{1,2})?$")
# OCC option symbols, e.g. SPY250117C00500000 (root, yymmdd, C/P, strike * 1000).
OPTION_SYMBOL = re.compile(r"^[A-Z]{1,6}\d{6}[CP]\d{8}$")

_NAMESPACE = uuid.UUID("6f1c2a4e-63a5-4f0e-9c1d-1b7f3e2d9a10")


@dataclass
class Asset:
    symbol: str
    name: str
    exchange: str
    price: Decimal  # where the seeded price path starts
    tradable: bool = True
    fractionable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    marginable: bool = True
    status: str = "active"
    asset_class: str = "us_equity"

    @property
    def id(self) -> str:
        # Stable across runs and resets, like a real asset id.
        return str(uuid.uuid5(_NAMESPACE, self.symbol))

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "class": self.asset_class,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "name": self.name,
            "status": self.status,
            "tradable": self.tradable,
            "marginable": self.marginable,
            "maintenance_margin_requirement": 30,
            "margin_requirement_long": "30",
            "margin_requirement_short": "100",
            "shortable": self.shortable,
            "easy_to_borrow": self.easy_to_borrow,
            "fractionable": self.fractionable,
            "attributes": ["fractional_eh_enabled"] if self.fractionable else [],
        }


_BUILT_IN: tuple[tuple[str, str, str, str, bool], ...] = (
    # symbol, name, exchange, start price, fractionable
    ("AAPL", "Apple Inc. Common Stock", "NASDAQ", "189.50", True),
    ("MSFT", "Microsoft Corporation Common Stock", "NASDAQ", "415.20", True),
    ("GOOGL", "Alphabet Inc. Class A Common Stock", "NASDAQ", "172.10", True),
    ("AMZN", "Amazon.com, Inc. Common Stock", "NASDAQ", "185.30", True),
    ("META", "Meta Platforms, Inc. Class A Common Stock", "NASDAQ", "505.75", True),
    ("NVDA", "NVIDIA Corporation Common Stock", "NASDAQ", "120.40", True),
    ("TSLA", "Tesla, Inc. Common Stock", "NASDAQ", "245.60", True),
    ("NFLX", "Netflix, Inc. Common Stock", "NASDAQ", "640.00", True),
    ("AMD", "Advanced Micro Devices, Inc. Common Stock", "NASDAQ", "158.20", True),
    ("INTC", "Intel Corporation Common Stock", "NASDAQ", "31.25", True),
    ("CSCO", "Cisco Systems, Inc. Common Stock", "NASDAQ", "48.90", True),
    ("ADBE", "Adobe Inc. Common Stock", "NASDAQ", "520.10", True),
    ("PEP", "PepsiCo, Inc. Common Stock", "NASDAQ", "170.35", True),
    ("COST", "Costco Wholesale Corporation Common Stock", "NASDAQ", "780.00", True),
    ("JPM", "JPMorgan Chase & Co. Common Stock", "NYSE", "198.40", True),
    ("BAC", "Bank of America Corporation Common Stock", "NYSE", "38.70", True),
    ("WMT", "Walmart Inc. Common Stock", "NYSE", "68.15", True),
    ("KO", "Coca-Cola Company (The) Common Stock", "NYSE", "62.40", True),
    ("DIS", "Walt Disney Company (The) Common Stock", "NYSE", "101.80", True),
    ("XOM", "Exxon Mobil Corporation Common Stock", "NYSE", "114.60", True),
    ("JNJ", "Johnson & Johnson Common Stock", "NYSE", "152.30", True),
    ("V", "Visa Inc. Class A Common Stock", "NYSE", "275.90", True),
    ("BRK.B", "Berkshire Hathaway Inc. Class B Common Stock", "NYSE", "410.25", True),
    ("F", "Ford Motor Company Common Stock", "NYSE", "12.10", True),
    ("GME", "GameStop Corporation Common Stock", "NYSE", "22.80", False),
    ("SPY", "SPDR S&P 500 ETF Trust", "ARCA", "520.40", True),
    ("QQQ", "Invesco QQQ Trust, Series 1", "NASDAQ", "445.10", True),
    ("IWM", "iShares Russell 2000 ETF", "ARCA", "205.60", True),
    ("DIA", "SPDR Dow Jones Industrial Average ETF Trust", "ARCA", "390.75", True),
    ("VTI", "Vanguard Total Stock Market ETF", "ARCA", "255.30", True),
    ("GLD", "SPDR Gold Trust", "ARCA", "215.40", True),
    ("TLT", "iShares 20+ Year Treasury Bond ETF", "NASDAQ", "92.15", True),
    ("SIRI", "Sirius XM Holdings Inc. Common Stock", "NASDAQ", "3.05", False),
    ("PLTR", "Palantir Technologies Inc. Class A Common Stock", "NASDAQ", "24.60", True),
)

# Listed but not tradable, as Alpaca lists some delisted or restricted names.
_INACTIVE: tuple[tuple[str, str, str, str], ...] = (
    ("TWTR", "Twitter, Inc. Common Stock", "NYSE", "53.70"),
)


def built_in_assets() -> dict[str, Asset]:
    assets = {
        symbol: Asset(symbol, name, exchange, Decimal(price), fractionable=fractionable)
        for symbol, name, exchange, price, fractionable in _BUILT_IN
    }
    for symbol, name, exchange, price in _INACTIVE:
        assets[symbol] = Asset(
            symbol,
            name,
            exchange,
            Decimal(price),
            tradable=False,
            fractionable=False,
            shortable=False,
            easy_to_borrow=False,
            status="inactive",
        )
    return assets
