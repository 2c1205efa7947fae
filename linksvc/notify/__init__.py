"""Telling people: what is worth a notice, emails of links, and delivery
(SMTP, webhooks) from the outbox.

May import: core, files, db, the other features and services; never web or
cli (tests/unit/test_layers.py checks it)."""
