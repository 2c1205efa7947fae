"""``linksvc group …``: groups of users and the link policy each sets."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..db.groups import Group
from ..links import policy
from .base import services
from .base import SubGroup


@click.group("group", cls=SubGroup)
def group_group() -> None:
    """Groups of users, and the rules their links follow."""


def _rule_options(fn):
    for option in reversed(
        [
            click.option(
                "--default-expiry", help="Expiry when none is asked, e.g. 1d."
            ),
            click.option("--max-expiry", help="Longest expiry allowed, e.g. 7d."),
            click.option("--max-downloads", type=int, help="Most downloads per link."),
            click.option(
                "--password-required/--password-optional",
                default=None,
                help="Every link needs a password.",
            ),
            click.option(
                "--ranges",
                help="Links must list address ranges inside these CIDR ranges.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _given(**options) -> dict:
    """The options given; '' (or 0 for --max-downloads) clears a rule."""
    rules = {}
    for name, value in options.items():
        if value is None:
            continue
        if value in ("", 0) and name != "password_required":
            value = None
        rules[name] = value
    return rules


def _show(group: Group) -> str:
    rules = "; ".join(policy.Policy((group,)).describe()) or "no rules"
    members = ", ".join(group.members) or "no members"
    return f"{group.name}: {rules} ({members})"


@group_group.command("add")
@click.argument("name")
@_rule_options
@with_appcontext
def group_add(name: str, **options) -> None:
    """Add a group with its rules."""
    click.echo(_show(policy.add_group(services(), name, "cli", **_given(**options))))


@group_group.command("set")
@click.argument("name")
@_rule_options
@with_appcontext
def group_set(name: str, **options) -> None:
    """Change some rules of a group ('' clears one)."""
    click.echo(_show(policy.change_group(services(), name, "cli", **_given(**options))))


@group_group.command("remove")
@click.argument("name")
@with_appcontext
def group_remove(name: str) -> None:
    """Remove a group (its members stay, without its rules)."""
    policy.remove_group(services(), name, "cli")
    click.echo(f"removed group {name}")


@group_group.command("join")
@click.argument("name")
@click.argument("username")
@with_appcontext
def group_join(name: str, username: str) -> None:
    """Make USERNAME a member of group NAME."""
    click.echo(_show(policy.join_group(services(), name, username, "cli")))


@group_group.command("leave")
@click.argument("name")
@click.argument("username")
@with_appcontext
def group_leave(name: str, username: str) -> None:
    """Take USERNAME out of group NAME."""
    click.echo(_show(policy.leave_group(services(), name, username, "cli")))


@group_group.command("grant")
@click.argument("name")
@click.argument("prefix")
@with_appcontext
def group_grant(name: str, prefix: str) -> None:
    """Members of group NAME may reach PREFIX (a folder or file)."""
    clean = policy.grant_group(services(), name, prefix, "cli")
    click.echo(f"{name}: grants {clean or '(everything)'}")


@group_group.command("ungrant")
@click.argument("name")
@click.argument("prefix")
@with_appcontext
def group_ungrant(name: str, prefix: str) -> None:
    """Take PREFIX back from group NAME (at once, for every member)."""
    clean = policy.ungrant_group(services(), name, prefix, "cli")
    click.echo(f"{name}: no longer grants {clean or '(everything)'}")


@group_group.command("list")
@with_appcontext
def group_list() -> None:
    """One line per group: its rules and members."""
    for group in services().store.groups.list():
        click.echo(_show(group))


GROUPS = [group_group]
