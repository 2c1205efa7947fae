"""The web adapter: Flask blueprints, error handlers, templates; each view
parses its input, calls a feature and renders what it returns.

May import anything below it (features, db, files, core, config); never cli
(tests/unit/test_layers.py checks it)."""
