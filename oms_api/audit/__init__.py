"""The audit trail: who did what, to what, and with which result."""
