"""``linksvc scim …`` (the bearer tokens an identity provider calls the SCIM
endpoint /scim/v2 with) and ``linksvc directory sync`` (LDAP leavers)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..accounts import directory
from ..core.clock import iso
from ..core.text import printable
from .base import services
from .base import SubGroup


@click.group("scim", cls=SubGroup)
def scim_group() -> None:
    """Provisioning by an identity provider (SCIM 2.0)."""


@scim_group.group("token", cls=SubGroup)
def token_group() -> None:
    """Bearer tokens for the identity provider's SCIM client."""


@token_group.command("create")
@click.argument("label")
@with_appcontext
def token_create(label: str) -> None:
    """Make a token; it is printed once, on the last line."""
    svc = services()
    token, secret = svc.store.provisioning.create_token(label)
    svc.audit.record("scim", "token created", actor="cli", subject=token.label[:64])
    click.echo(f"SCIM token {token.id} ({printable(token.label)}); it is shown once:")
    click.echo(secret)


@token_group.command("list")
@with_appcontext
def token_list() -> None:
    """Every SCIM token, with when it was last used."""
    for token in services().store.provisioning.tokens():
        state = "revoked" if token.revoked_at else "active"
        click.echo(
            f"{token.id}  {state:7}  {printable(token.label)}  "
            f"created {iso(token.created_at)}  "
            f"last used {iso(token.last_used_at) or '-'}"
        )


@token_group.command("revoke")
@click.argument("token_id")
@with_appcontext
def token_revoke(token_id: str) -> None:
    """Revoke a token: its next call is refused."""
    svc = services()
    svc.store.provisioning.revoke_token(token_id)
    svc.audit.record("scim", "token revoked", actor="cli", subject=token_id)
    click.echo(f"revoked SCIM token {token_id}")


@click.group("directory", cls=SubGroup)
def directory_group() -> None:
    """The LDAP / Active Directory people sign in against."""


@directory_group.command("sync")
@with_appcontext
def directory_sync() -> None:
    """Disable accounts whose entry is gone; follow the others' groups.

    Run it periodically (deploy/linksvc-directory-sync.timer)."""
    svc = services()
    if svc.directory is None:
        raise click.ClickException("ldap_url is not set: there is no directory.")
    report = directory.sync(svc, actor="directory sync")
    for name in report.disabled:
        click.echo(f"disabled {name} (gone from the directory)")
    click.echo(
        f"checked {report.checked}, disabled {len(report.disabled)}, "
        f"updated {report.updated}"
    )


GROUPS = [scim_group, directory_group]
