"""Block Kit builders: pure functions returning dicts checked by slack_sdk's models."""
