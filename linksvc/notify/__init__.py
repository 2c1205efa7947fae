"""Telling people: what is worth a notice, emails of links, and delivery
(SMTP, webhooks) from the outbox."""
