"""Trading controls: the account-wide trading state, the emergency stop, emergency sells."""
