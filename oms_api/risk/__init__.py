"""Pre-trade risk: portfolio capital and per-portfolio limits, checked before an order is
recorded or sent."""
