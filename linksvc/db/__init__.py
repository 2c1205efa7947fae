"""The store, the only door to the database (SQLAlchemy Core): each module
a part (users, links, claims, audit, outbox, sessions …), built by Store.

May import: core, files (the hand-off to real threads), itself; no Flask
(tests/unit/test_layers.py checks it)."""
