"""Read-only broker views: account, positions, quotes, market hours."""
