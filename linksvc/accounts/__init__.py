"""People: accounts, their passwords, single sign-on, and which files
their grants reach.

May import: core, files, db, the other features (links, notify) and
services; never web or cli (tests/unit/test_layers.py checks it)."""
