"""Pure rules: no I/O, no threads, no Flask, no database (durations,
errors, tokens, ranges, preconditions, text).

May import: the standard library, itsdangerous and werkzeug.http, and
itself (tests/unit/test_layers.py checks it)."""
