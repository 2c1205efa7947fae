"""Links: their options (options.py, pure), how a request opens one
(opening.py), sharing, editing, the group policy, folders.

May import: core, files, db, the other features (accounts, notify) and
services; never web or cli (tests/unit/test_layers.py checks it)."""
