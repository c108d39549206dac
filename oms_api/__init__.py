"""The OMS API: orders, fills and positions on Alpaca, behind a small authenticated HTTP API."""

__version__ = "0.1.0"
