"""Reconciliation: compare the OMS with the broker, report what differs, repair only when asked."""
