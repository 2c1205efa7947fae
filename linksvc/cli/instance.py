"""``linksvc init``, ``linksvc serve`` and ``linksvc keys …``: the instance."""

from __future__ import annotations

import os
import secrets

import click
from flask.cli import with_appcontext

from .. import backups
from .. import config
from .. import keys
from ..keys import ensure_keys
from ..keys import ENV_KEYS
from ..services import of as services_of
from .base import make_app
from .base import services
from .base import settings_path
from .base import SubGroup


def _initialised_app(conf: config.Settings):
    """The instance's keys made if missing, its database migrated: the app."""
    if not os.environ.get(ENV_KEYS):
        ensure_keys(conf.instance_dir)
    app = make_app()
    services_of(app).store.migrate()
    return app


@click.command("init")
@click.option(
    "--demo-admin", is_flag=True, help="Create user 'admin' if no user exists."
)
def init_command(demo_admin: bool) -> None:
    """Create the instance folder, secret keys and database (idempotent)."""
    conf = config.load(settings_path())
    app = _initialised_app(conf)
    store = services_of(app).store
    click.echo(f"instance: {conf.instance_dir}")
    click.echo(f"database: {store.shown_url}")
    if demo_admin and store.users.count() == 0:
        password = secrets.token_urlsafe(12)
        store.users.add("admin", password, is_admin=True)
        click.echo("")
        where = conf.public_base_url or "http://127.0.0.1:8000"
        click.echo(f"Created the demo admin. Log in at {where}/login with")
        click.echo("  user name: admin")
        click.echo(f"  password:  {password}")
        click.echo("This password is shown only now.")


@click.command("migrate")
def migrate_command() -> None:
    """Bring the database to this release's schema (idempotent). Run it
    before restarting instances on a new release: every migration keeps the
    previous release working on the new schema (docs: Upgrades)."""
    app = make_app()
    store = services_of(app).store
    before = store.revision()
    store.migrate()
    after = store.revision()
    if before == after:
        click.echo(f"database: {store.shown_url} is at revision {after}")
    else:
        click.echo(f"database: {store.shown_url} migrated from {before} to {after}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--init",
    "initialise",
    is_flag=True,
    help="First run `linksvc init` (the image does: one instance per database; "
    "with several, run `linksvc migrate` once instead).",
)
def serve_command(host: str, port: int, workers: int, initialise: bool) -> None:
    """Serve with gunicorn in the foreground; SIGTERM stops it cleanly."""
    from ..serve import serve

    # Fail here, with a clear message, rather than in each worker.
    app = _initialised_app(config.load(settings_path())) if initialise else make_app()
    settings = app.config["LINKSVC"]
    services_of(app).close()
    serve(settings_path(), host, port, workers, settings)


@click.group("keys", cls=SubGroup)
def keys_group() -> None:
    """List, rotate and retire the signing keys."""


def _keys_dir() -> str:
    if os.environ.get(ENV_KEYS):
        raise click.ClickException(
            f"The keys come from {ENV_KEYS}; change that variable instead."
        )
    return services().settings.instance_dir


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
    services().store.users.end_all_sessions()
    click.echo(
        f"retired {key.id}; links signed with it now answer 404 and every "
        "session has ended"
    )


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False))
@with_appcontext
def backup_command(dest: str) -> None:
    """Copy the database (consistently, while the server runs), the keys and
    the waiting uploads into the new folder DEST."""
    manifest = backups.back_up(services(), dest)
    click.echo(
        f"backed up the {manifest['database']} database (revision "
        f"{manifest['revision']}), {'the keys' if manifest['keys'] else 'no keys file'}"
        f" and {manifest['uploads']} waiting upload(s) into {dest}"
    )
    if not manifest["keys"]:
        click.echo(f"the keys come from {ENV_KEYS}: keep them with the backup")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
def restore_command(source: str) -> None:
    """Restore the backup in SOURCE into this (empty) instance."""
    conf = config.load(settings_path())
    manifest = backups.restore(conf, source)
    click.echo(
        f"restored a {manifest['database']} backup of "
        f"{manifest['created_at']} into {conf.instance_dir}"
    )


COMMANDS = [
    init_command,
    migrate_command,
    serve_command,
    keys_group,
    backup_command,
    restore_command,
]
