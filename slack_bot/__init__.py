"""The Slack front-end: a thin slack-bolt client of the OMS API."""
