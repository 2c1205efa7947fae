"""The ``linksvc`` command: a Flask CLI group; each command is a thin wrapper.

``--settings PATH`` may stand before or after the command name; it is kept in
the click context and read when the app is first needed.
"""

from __future__ import annotations

import os
import secrets
import sys
import time

import click
from flask import current_app
from flask import Flask
from flask.cli import FlaskGroup
from flask.cli import with_appcontext

from . import config
from . import create_app
from .errors import LinksvcError
from .keys import ensure_keys
from .keys import ENV_KEYS
from .sharing import Services
from .text import printable

SETTINGS_KEY = "linksvc.settings"


def _remember_settings(ctx: click.Context, _param, value: str | None) -> None:
    if value is not None:
        ctx.meta[SETTINGS_KEY] = value


settings_option = click.option(
    "--settings",
    metavar="PATH",
    expose_value=False,
    is_eager=True,
    callback=_remember_settings,
    help="Settings file (default: $LINKSVC_SETTINGS or ./settings.toml).",
)


def _make_app() -> Flask:
    ctx = click.get_current_context(silent=True)
    path = ctx.meta.get(SETTINGS_KEY) if ctx else None
    try:
        return create_app(settings_path=path)
    except LinksvcError as exc:
        raise click.ClickException(str(exc)) from None


def svc() -> Services:
    return current_app.extensions["linksvc"]


class Group(FlaskGroup):
    """Every subcommand also accepts ``--settings`` and turns our refusals into
    a one-line error with exit code 1 rather than a traceback."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group):
            cmd = settings_option(cmd)
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Our own commands only: listing them must not need a working
        # instance (FlaskGroup would build the app, and fail before init).
        return click.Group.list_commands(self, ctx)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LinksvcError as exc:
            raise click.ClickException(str(exc)) from None


class SubGroup(click.Group):
    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(settings_option(cmd), name)


cli = Group(
    name="linksvc",
    help="Signed, expiring download links for a protected directory.",
    create_app=_make_app,
    load_dotenv=False,
    set_debug_flag=False,
    params=[
        click.Option(
            ["--settings"],
            metavar="PATH",
            expose_value=False,
            is_eager=True,
            callback=_remember_settings,
            help="Settings file (default: $LINKSVC_SETTINGS or ./settings.toml).",
        )
    ],
)
# FlaskGroup's --app, --env-file and --debug would only confuse here: the
# app is always linksvc's, configured by --settings.
cli.params = [p for p in cli.params if p.name not in ("app", "env_file", "debug")]


@cli.command("init", with_appcontext=False)
@click.option(
    "--demo-admin", is_flag=True, help="Create user 'admin' if no user exists."
)
@click.pass_context
def init_command(ctx: click.Context, demo_admin: bool) -> None:
    """Create the instance folder, secret keys and database (idempotent)."""
    path = ctx.meta.get(SETTINGS_KEY)
    try:
        conf = config.load(path)
    except LinksvcError as exc:
        raise click.ClickException(str(exc)) from None
    if not os.environ.get(ENV_KEYS):
        ensure_keys(conf["instance_dir"])
    app = _make_app()
    store = app.extensions["linksvc"].store
    store.migrate()
    click.echo(f"instance: {conf['instance_dir']}")
    click.echo(f"database: {store.engine.url.render_as_string(hide_password=True)}")
    if demo_admin and store.count_users() == 0:
        password = secrets.token_urlsafe(12)
        store.add_user("admin", password, is_admin=True)
        click.echo("")
        where = conf["public_base_url"] or "http://127.0.0.1:8000"
        click.echo(f"Created the demo admin. Log in at {where}/login with")
        click.echo("  user name: admin")
        click.echo(f"  password:  {password}")
        click.echo("This password is shown only now.")


@cli.group("user", cls=SubGroup)
def user_group() -> None:
    """Add users and grant them folders."""


def _clean_grants(prefixes) -> list[str]:
    tree = svc().tree
    return [tree.clean(prefix) for prefix in prefixes]


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
    user = svc().store.add_user(name, password, admin, _clean_grants(grants))
    click.echo(f"added {user.username}{' (admin)' if admin else ''}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    return password


@user_group.command("grant")
@click.argument("name")
@click.argument("prefix")
@with_appcontext
def user_grant(name: str, prefix: str) -> None:
    """Let NAME access and share everything under PREFIX."""
    (clean,) = _clean_grants([prefix])
    user = svc().store.add_grant(name, clean)
    click.echo(f"{user.username}: {', '.join(user.grants) or '-'}")


@user_group.command("ungrant")
@click.argument("name")
@click.argument("prefix")
@with_appcontext
def user_ungrant(name: str, prefix: str) -> None:
    """Take back a grant (links already made stay until revoked)."""
    (clean,) = _clean_grants([prefix])
    user = svc().store.revoke_grant(name, clean)
    click.echo(f"{user.username}: {', '.join(user.grants) or '-'}")


@user_group.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@with_appcontext
def user_password(name: str, password_stdin: bool) -> None:
    """Set a new password for NAME; their sessions end."""
    svc().store.user_by_name(name)
    password = _read_password(password_stdin)
    svc().store.set_password(name, password)
    click.echo(f"new password for {name}; their sessions have ended")


@user_group.command("list")
@with_appcontext
def user_list() -> None:
    """One line per user: name, role, grants."""
    for user in svc().store.list_users():
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
    ids = svc().disable_user(name)
    click.echo(
        f"disabled {name}; {len(ids)} link{'s' if len(ids) != 1 else ''} revoked"
    )


@user_group.command("enable")
@click.argument("name")
@with_appcontext
def user_enable(name: str) -> None:
    """Let NAME log in again (revoked links stay revoked)."""
    svc().store.set_disabled(name, False)
    click.echo(f"enabled {name}")


@cli.group("link", cls=SubGroup)
def link_group() -> None:
    """Create and list share links."""


@link_group.command("create")
@click.argument("path")
@click.option("--user", "username", required=True, help="Owner; their grants apply.")
@click.option("--expires", default=None, help="Lifetime, e.g. 90m, 1d, 2w.")
@click.option("--max-downloads", type=int, default=None, help="1 makes it one-time.")
@click.option(
    "--not-before", default=None, help="Start: ISO 8601 (UTC) or a delay like +2h."
)
@click.option("--note", default="", help="Who the link is for.")
@with_appcontext
def link_create(
    path: str,
    username: str,
    expires: str | None,
    max_downloads: int | None,
    not_before: str | None,
    note: str,
) -> None:
    """Create a link to PATH; the URL is the last line printed."""
    services = svc()
    user = services.store.user_by_name(username)
    link, token = services.create_link(
        user,
        path,
        expires,
        max_downloads=max_downloads,
        not_before=not_before,
        note=note,
        actor=f"cli:{username}",
    )
    try:
        url = services.link_url(token)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        printable(f"link {link.id} to {link.path}, expires {_utc(link.expires_at)}")
    )
    click.echo(url)


@link_group.command("list")
@with_appcontext
def link_list() -> None:
    """One line per link: id, path, owner, expiry, status, downloads."""
    now = time.time()
    store = svc().store
    offset = 0
    while True:
        page = store.list_links(limit=LIST_PAGE, offset=offset)
        for link in page:
            downloads = str(link.download_count)
            if link.max_downloads is not None:
                downloads += f"/{link.max_downloads}"
            fields = [
                link.id,
                link.path,
                link.owner,
                _utc(link.expires_at),
                link.status(now),
                downloads,
            ]
            click.echo("\t".join(printable(field) for field in fields))
        if len(page) < LIST_PAGE:
            break
        offset += LIST_PAGE


#: Links fetched at a time by ``link list``.
LIST_PAGE = 1000


@link_group.command("revoke")
@click.argument("link_id", required=False)
@click.option("--user", "username", default=None, help="Every live link of a user.")
@click.option(
    "--path", "prefix", default=None, help="Every live link to a path or folder."
)
@with_appcontext
def link_revoke(link_id: str | None, username: str | None, prefix: str | None) -> None:
    """Revoke a link by id, or every link of --user and/or under --path."""
    services = svc()
    if link_id and (username or prefix) or not (link_id or username or prefix):
        raise click.UsageError("give a link id, or --user and/or --path")
    if link_id:
        link = services.revoke_link(None, link_id, actor="cli")
        click.echo(printable(f"revoked {link.id} ({link.path})"))
        return
    owner = services.store.user_by_name(username) if username else None
    ids = services.revoke_many(None, owner=owner, path_prefix=prefix, actor="cli")
    for revoked in ids:
        click.echo(f"revoked {revoked}")
    click.echo(f"{len(ids)} link{'s' if len(ids) != 1 else ''} revoked")


def _utc(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@cli.command("serve", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve with gunicorn in the foreground; SIGTERM stops it cleanly."""
    from .serve import serve

    path = ctx.meta.get(SETTINGS_KEY)
    _make_app()  # fail here, with a clear message, rather than in each worker
    serve(path, host, port, workers)


def main() -> None:
    cli.main(prog_name="linksvc")


# The operator's commands (keys, tokens, audit) live in commands.py.
from . import commands  # noqa: E402

for group in commands.GROUPS:
    cli.add_command(group)
