"""Alerts to Slack channels: recorded with the event that causes them, delivered later."""
