"""The broker gateway: the only code that talks to Alpaca (and imports alpaca-py)."""
