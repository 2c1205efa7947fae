"""People: accounts, their passwords, and which files their grants reach."""
