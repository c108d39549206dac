"""Orders ("trades"): the state machine, the order service and their tables."""
