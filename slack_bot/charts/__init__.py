"""Charts the bot uploads to Slack: pure functions from data to PNG bytes."""
