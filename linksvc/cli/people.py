"""``linksvc user …`` and ``linksvc token …``: people and their API tokens."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from ..accounts import people as accounts
from ..core.clock import iso
from ..core.text import printable
from .base import plural
from .base import services
from .base import SubGroup


@click.group("user", cls=SubGroup)
def user_group() -> None:
    """Add users and grant them folders."""


@user_group.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May access and share everything.")
@click.option(
    "--grant",
    "grants",
    multiple=True,
    metavar="PREFIX",
    help="A folder under protected/ (repeatable).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@with_appcontext
def user_add(name: str, admin: bool, grants: tuple[str, ...], password_stdin: bool):
    """Add a user."""
    password = _read_password(password_stdin)
    user = accounts.add_user(services(), name, password, admin=admin, grants=grants)
    click.echo(f"added {user.username}{' (admin)' if admin else ''}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return accounts.check_password(password)


@user_group.command("grant")
@click.argument("name")
@click.argument("prefix")
@with_appcontext
def user_grant(name: str, prefix: str) -> None:
    """Let NAME access and share everything under PREFIX."""
    user = accounts.grant(services(), name, prefix)
    click.echo(f"{user.username}: {', '.join(user.grants) or '-'}")


@user_group.command("ungrant")
@click.argument("name")
@click.argument("prefix")
@with_appcontext
def user_ungrant(name: str, prefix: str) -> None:
    """Take back a grant (links already made stay until revoked)."""
    user = accounts.ungrant(services(), name, prefix)
    click.echo(f"{user.username}: {', '.join(user.grants) or '-'}")


@user_group.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@with_appcontext
def user_password(name: str, password_stdin: bool) -> None:
    """Set a new password for NAME; their sessions and API tokens end."""
    services().store.users.by_name(name)
    password = _read_password(password_stdin)
    accounts.set_password(services(), name, password)
    click.echo(f"new password for {name}; their sessions have ended")


@user_group.command("email")
@click.argument("name")
@click.argument("address")
@with_appcontext
def user_email(name: str, address: str) -> None:
    """Set NAME's email address, for notices ('' removes it)."""
    user = accounts.set_email(services(), name, address, "cli")
    click.echo(printable(f"{user.username}: {user.email or 'no email address'}"))


@user_group.command("list")
@with_appcontext
def user_list() -> None:
    """One line per user: name, role, grants."""
    for user in services().store.users.list():
        role = "admin" if user.is_admin else "user"
        state = " disabled" if user.disabled else ""
        grants = ",".join(user.grants) or "-"
        click.echo(f"{printable(user.username)}\t{role}{state}\t{printable(grants)}")


@user_group.command("disable")
@click.argument("name")
@with_appcontext
def user_disable(name: str) -> None:
    """Disable NAME: ends their sessions, refuses their API tokens, revokes
    their links."""
    ids = accounts.disable_user(services(), name)
    click.echo(f"disabled {name}; {plural(len(ids), 'link')} revoked")


@user_group.command("enable")
@click.argument("name")
@with_appcontext
def user_enable(name: str) -> None:
    """Let NAME log in again (revoked links and tokens stay revoked)."""
    accounts.enable_user(services(), name)
    click.echo(f"enabled {name}")


@click.group("token", cls=SubGroup)
def token_group() -> None:
    """Personal API tokens for /api/v1."""


@token_group.command("create")
@click.argument("label")
@click.option("--user", "username", required=True)
@with_appcontext
def token_create(label: str, username: str) -> None:
    """Create a token; it is printed once, as the last line."""
    store = services().store
    user = store.users.by_name(username)
    token, secret = store.tokens.create(user.id, label[:128])
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
    store = services().store
    for token in store.tokens.list(store.users.by_name(username).id):
        used = iso(token.last_used_at) if token.last_used_at else "-"
        state = "revoked" if token.revoked_at else "active"
        label = printable(token.label)
        click.echo(f"{token.id}\t{label}\t{iso(token.created_at)}\t{used}\t{state}")


@token_group.command("revoke")
@click.argument("token_id")
@click.option("--user", "username", required=True)
@with_appcontext
def token_revoke(token_id: str, username: str) -> None:
    """Revoke one of a user's API tokens."""
    store = services().store
    store.tokens.revoke(token_id, store.users.by_name(username).id)
    click.echo(f"revoked token {token_id}")


GROUPS = [user_group, token_group]
