"""P&L: each portfolio's realized, unrealized and today's P&L from its own fills, the account's
figures, the managed/unmanaged positions list, P&L over time, and the per-portfolio daily loss
limit."""
