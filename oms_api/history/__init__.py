"""The broker mirror: the account's order history and positions as the broker reports them,
its sync, trade grouping and strategy detection."""
