"""Portfolios: named books that orders belong to, each able to be paused."""
