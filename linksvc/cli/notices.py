"""``linksvc notify``: send what the outbox holds (for cron or a timer)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..notify import delivery
from .base import plural
from .base import services


@click.command("notify")
@click.option("--failed", is_flag=True, help="List the messages given up instead.")
@with_appcontext
def notify(failed: bool) -> None:
    """Queue due reminders and expiry notices, then send due messages.

    Safe to run from several places at once: each reminder is queued once
    and each message is sent by one sender. Servers do the same every
    outbox_interval; this is for cron or a systemd timer, or a server-less
    setup."""
    svc = services()
    if failed:
        for m in svc.store.outbox.list(unsent=True):
            if m.failed_at is not None:
                click.echo(
                    f"{m.id}\t{m.kind}\t{m.event}\t{m.recipient}\t{m.last_error}"
                )
        return
    sent, errors = delivery.run_once(svc)
    click.echo(f"sent {plural(sent, 'message')}, {plural(errors, 'failure')}")


COMMANDS = [notify]
