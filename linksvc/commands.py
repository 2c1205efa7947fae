"""The operator's commands: signing keys, API tokens and the audit log.

Registered on the ``linksvc`` group by cli.py; each is a few lines over a
function in a pure module (keys.py, users.py, audit.py).
"""

from __future__ import annotations

import os
import time

import click
from flask.cli import with_appcontext

from . import audit
from . import keys
from .cli import _utc
from .cli import SubGroup
from .cli import svc
from .durations import parse_duration
from .keys import ENV_KEYS
from .text import printable


@click.group("keys", cls=SubGroup)
def keys_group() -> None:
    """List, rotate and retire the signing keys."""


def _keys_dir() -> str:
    if os.environ.get(ENV_KEYS):
        raise click.ClickException(
            f"keys come from {ENV_KEYS}; change that variable instead"
        )
    return svc().settings["instance_dir"]


@keys_group.command("list")
@with_appcontext
def keys_list() -> None:
    """One line per key: key id, created, and whether it signs."""
    for i, key in enumerate(keys.read_entries(_keys_dir())):
        click.echo(
            f"{key.id}\t{key.created or '-'}\t{'signs' if i == 0 else 'verifies'}"
        )


@keys_group.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """A new key signs from now on; older keys still verify."""
    key = keys.rotate(_keys_dir())
    click.echo(f"new signing key {key.id}; running servers follow within seconds")


@keys_group.command("retire")
@click.argument("key_id")
@with_appcontext
def keys_retire(key_id: str) -> None:
    """Remove a key: every link it signed stops working at once."""
    key = keys.retire(_keys_dir(), key_id)
    # A session cookie re-signed with a newer key would survive otherwise.
    svc().store.end_all_sessions()
    click.echo(
        f"retired {key.id}; links signed with it now answer 404 and every "
        "session has ended"
    )


@click.group("token", cls=SubGroup)
def token_group() -> None:
    """Personal API tokens for /api/v1."""


@token_group.command("create")
@click.argument("label")
@click.option("--user", "username", required=True)
@with_appcontext
def token_create(label: str, username: str) -> None:
    """Create a token; it is printed once, as the last line."""
    store = svc().store
    user = store.user_by_name(username)
    token, secret = store.create_api_token(user.id, label[:128])
    click.echo(
        printable(
            f"token {token.id} for {user.username} ({token.label}); keep it secret:"
        )
    )
    click.echo(secret)


@token_group.command("list")
@click.option("--user", "username", required=True)
@with_appcontext
def token_list(username: str) -> None:
    """One line per token: id, label, created, last used, state."""
    store = svc().store
    for token in store.list_api_tokens(store.user_by_name(username).id):
        used = _utc(token.last_used_at) if token.last_used_at else "-"
        state = "revoked" if token.revoked_at else "active"
        label = printable(token.label)
        click.echo(f"{token.id}\t{label}\t{_utc(token.created_at)}\t{used}\t{state}")


@token_group.command("revoke")
@click.argument("token_id")
@click.option("--user", "username", required=True)
@with_appcontext
def token_revoke(token_id: str, username: str) -> None:
    store = svc().store
    store.revoke_api_token(token_id, store.user_by_name(username).id)
    click.echo(f"revoked token {token_id}")


@click.group("audit", cls=SubGroup)
def audit_group() -> None:
    """The audit log."""


@audit_group.command("export")
@click.option("--since", default="7d", show_default=True, help="How far back.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv")
@click.option("--user", "username", default=None)
@click.option("--path", "prefix", default=None)
@click.option("--outcome", default=None)
@with_appcontext
def audit_export(
    since: str, fmt: str, username: str | None, prefix: str | None, outcome: str | None
) -> None:
    """Write audit records, newest first, to standard output."""
    services = svc()
    services.audit.flush()
    records = audit.stream(
        services.store.engine,
        since=int(time.time()) - parse_duration(since),
        user=username,
        path=prefix,
        outcome=outcome,
    )
    for chunk in (audit.to_csv if fmt == "csv" else audit.to_jsonl)(records):
        click.echo(chunk, nl=False)


@audit_group.command("prune")
@click.option(
    "--older-than",
    default=None,
    help="Default: the audit_retention setting (90d unless set).",
)
@with_appcontext
def audit_prune(older_than: str | None) -> None:
    """Delete audit records (and stored client addresses) past the retention."""
    services = svc()
    services.audit.flush()
    keep = (
        parse_duration(older_than)
        if older_than
        else services.settings["audit_retention"]
    )
    deleted = audit.prune(services.store.engine, int(time.time()) - keep)
    click.echo(f"deleted {deleted} audit record{'s' if deleted != 1 else ''}")


GROUPS = [keys_group, token_group, audit_group]
