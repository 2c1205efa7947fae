"""Files: the protected tree (the one path cleaner), sending bytes, zips,
and the hand-off of blocking work off the event loop.

May import: core and itself; no Flask, no database (tests/unit/test_layers.py
checks it)."""
